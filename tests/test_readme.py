"""README's commands run as written, in order, in an empty folder (a new user's first hour).

Every fenced block marked ``sh`` becomes part of one bash script (``set -euo pipefail``),
and every ``python`` block runs with the venv's interpreter at its place in the order. The
gateway port in the quick start is replaced by a free one; nothing else is changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```$", re.S | re.M)
QUICKSTART_PORT = "8765"


def blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(README.read_text())]


def test_readme_has_runnable_blocks() -> None:
    kinds = [k for k, _ in blocks()]
    assert kinds.count("sh") >= 4 and "python" in kinds
    text = README.read_text()
    # the only other fences are plain text, YAML or tables of output, never commands to run
    for fence in re.findall(r"^```(\S*)$", text, re.M):
        assert fence in ("", "sh", "python", "text", "yaml"), fence


@pytest.mark.e2e
@pytest.mark.timeout(1500)  # README's blocks run minutes of training; slow, not stuck, on a loaded machine
def test_every_readme_command_runs_as_written(tmp_path: Path) -> None:
    port = str(free_port())
    script = ["set -euo pipefail"]
    for i, (kind, body) in enumerate(blocks()):
        body = body.replace(QUICKSTART_PORT, port)
        if kind == "sh":
            script.append(f"echo '### block {i}'")
            script.append(body)
        else:
            path = tmp_path / f"block_{i}.py"
            path.write_text(body)
            script.append(f"echo '### block {i}'")
            script.append(f'"{sys.executable}" {path.name}')
    (tmp_path / "readme.sh").write_text("\n".join(script) + "\n")
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["OMP_NUM_THREADS"] = "1"
    work = tmp_path / "work"
    work.mkdir()
    for block in tmp_path.glob("block_*.py"):
        block.rename(work / block.name)
    done = subprocess.run(
        ["bash", str(tmp_path / "readme.sh")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    out = done.stdout
    assert "modelsteal 0." in out
    # the quick start's audit: one line per client, "NAME<TAB>N queries<TAB>verdict"
    audit = {line.split("\t")[0]: line for line in out.splitlines() if re.match(r"^\w+\t\d+ queries\t", line)}
    assert "LOOKS LIKE EXTRACTION" in audit["bob"], out[-3000:]
    assert audit["alice"].endswith("no alarm"), out[-3000:]
    assert '"label":"good"' in out.replace(" ", "") or '"label":"bad"' in out.replace(" ", "")
    assert "65 1.0" in out  # the Python snippet's own claim
