"""schemathesis, run against the running gateway's OpenAPI schema, finds no 5xx."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from modelsteal.gateway.store import Store
from modelsteal.victims import save_model_dir
from tests.servers import gateway_server


@pytest.mark.e2e
def test_schemathesis_finds_no_server_error(tmp_path: Path, victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "softmax")
    model_dir = save_model_dir(victim, data, tmp_path / "digits", seed=0)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "tiers:\n  default:\n    key_limits: ['10000000/day']\n    ip_limits: ['10000000/day']\n"
    )
    db = tmp_path / "gw.db"
    store = Store(db)
    key = store.create_key("fuzzer")
    store.close()
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert st is not None, "schemathesis is a dev dependency; `make test` installs it"
    with gateway_server([model_dir], db, policy=policy) as (url, _):
        proc = subprocess.run(
            [
                st,
                "run",
                url + "/openapi.json",
                "--checks",
                "not_a_server_error",
                "--header",
                f"Authorization: Bearer {key}",
                "--max-examples",
                "40",
                "--seed",
                "1",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,  # schemathesis writes its cache (.schemathesis/) into the working directory
            env=dict(os.environ, NO_COLOR="1"),
        )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # schemathesis exits non-zero on any failed check; the last summary counts all test cases
    passed = re.findall(r"(\d+) passed", out)
    assert passed and int(passed[-1]) > 100, out[-2000:]
