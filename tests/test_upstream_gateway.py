"""The gateway in front of a model server the operator already runs (``serve --upstream``).

A real KServe ModelServer holds the model; our gateway, a real process on loopback, puts
keys, row quotas, detectors and the query log in front of it. The same attack through a
gateway in front of the local model directory must see the same answers, spend the same
rows and raise the same alarms. When the upstream dies, times out or answers garbage the
gateway answers 502/504 with a stable code and charges nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.cli import main
from modelsteal.datasets import load_dataset
from modelsteal.gateway import Gateway
from modelsteal.gateway.service import GatewayError, ServedModel
from modelsteal.gateway.store import Store
from modelsteal.oracle import Oracle
from modelsteal.oracle.http import HTTPTransport
from modelsteal.oracle.upstream import UpstreamVictim
from modelsteal.victims import load_model_dir, save_model_dir, train_victim
from tests.servers import create_key, free_port, gateway_server, kserve_server, stop, wait_until

pytestmark = pytest.mark.e2e

POLICY = """
store_inputs: true
tiers:
  default:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
    price_per_row: 0.001
  small:
    key_limits: ["50/day"]
    ip_limits: ["1000000/hour"]
    price_per_row: 0.001
detection:
  detectors:
    prada: {action: flag}
    unique_share: {action: flag}
    narrow_range: {action: flag}
    boundary: {action: flag}
    coverage: {action: flag}
"""


@pytest.fixture(scope="module")
def victim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = load_dataset("digits")
    victim = train_victim(data, "softmax", seed=0)
    return save_model_dir(victim, data, tmp_path_factory.mktemp("victim") / "digits", seed=0)


@pytest.fixture(scope="module")
def space_file(victim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    md = load_model_dir(victim_dir)
    path = tmp_path_factory.mktemp("space") / "space.json"
    path.write_text(json.dumps({**md.feature_space.to_dict(), "classes": list(md.card["classes"])}))
    return path


def upstream_gateway(upstream: str, space: Path, policy: Path, db: Path) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-m", "modelsteal", "serve", "--upstream", upstream, "--protocol", "tfserving"]
    cmd += ["--feature-space", str(space), "--name", "digits", "--policy", str(policy), "--db", str(db)]
    cmd += ["--port", str(port), "--upstream-timeout", "5", "--family", "softmax"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=dict(os.environ, OMP_NUM_THREADS="1")
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, "the gateway", proc)
        yield url
    finally:
        stop(proc)


def steal(url: str, key: str) -> object:
    transport = HTTPTransport(url + "/v1/models/digits", key)
    try:
        return make_attack("retrain-linesearch").run(Oracle(transport), budget=300, random_state=0)
    finally:
        transport.close()


def test_serve_upstream_works_as_in_front_of_a_local_model(
    victim_dir: Path, space_file: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    local_db, up_db = tmp_path / "local.db", tmp_path / "upstream.db"
    with kserve_server(victim_dir / "model.skops", "digits") as (kserve, kserve_proc):
        gen = upstream_gateway(kserve + "/v1/models/digits", space_file, policy, up_db)
        up = next(gen)
        try:
            with gateway_server([victim_dir], local_db, policy=policy) as (local, _):
                results = {}
                for name, url, db in (("local", local, local_db), ("upstream", up, up_db)):
                    results[name] = steal(url, create_key(db, "thief"))
            a, b = results["local"], results["upstream"]
            assert a.queries == b.queries == 300  # type: ignore[attr-defined]
            probe = load_dataset("digits").X_test
            # the same answers led to the same copy
            assert np.array_equal(a.model.predict_proba(probe), b.model.predict_proba(probe))  # type: ignore[attr-defined]
            # the detectors saw the same rows and raised the same alarms, logged alike
            local_store, up_store = Store(local_db), Store(up_db)
            alarms = [(x["detector"], x["at_row"], x["score"]) for x in local_store.alarms("thief")]
            assert alarms, "the line-search thief should raise an alarm"
            assert [(x["detector"], x["at_row"], x["score"]) for x in up_store.alarms("thief")] == alarms
            assert local_store.client("thief").rows == up_store.client("thief").rows == 300
            assert len(local_store.log()) == len(up_store.log())

            # keys and quotas in rows: 401 without a key, 429 past 50 rows a day
            body = {"instances": np.zeros((40, 64)).tolist()}
            assert httpx.post(up + "/v1/models/digits/predict", json=body).status_code == 401
            small = create_key(up_db, "small", "small")
            auth = {"Authorization": f"Bearer {small}"}
            assert httpx.post(up + "/v1/models/digits/predict", json=body, headers=auth).status_code == 200
            refused = httpx.post(up + "/v1/models/digits/predict", json=body, headers=auth)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"
            assert up_store.client("small").rows == 40

            # the upstream dies: 502 with a code, nothing charged, the refusal logged
            stop(kserve_proc)
            honest = create_key(up_db, "honest")
            auth = {"Authorization": f"Bearer {honest}"}
            down = httpx.post(
                up + "/v1/models/digits/predict", json={"instances": [[0.0] * 64]}, headers=auth
            )
            assert down.status_code == 502 and down.json()["error"]["code"] == "upstream_unavailable"
            assert up_store.client("honest").rows == 0 and up_store.client("honest").spent == 0
            assert up_store.log(1)[0]["status"] == 502
            usage = httpx.get(up + "/v1/usage", headers=auth).json()
            assert usage["rows"] == 0 and all(v == 100000 for v in usage["remaining"].values())
        finally:
            gen.close()


def in_process(victim_dir: Path, space_file: Path, handler: object, tmp_path: Path) -> Gateway:
    md = load_model_dir(victim_dir)
    client = httpx.Client(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    victim = UpstreamVictim(
        "http://upstream/v1/models/digits",
        protocol="tfserving",
        feature_space=md.feature_space,
        classes=tuple(md.card["classes"]),
        client=client,
    )
    return Gateway([ServedModel("digits", victim, victim.class_names)], store=Store(tmp_path / "gw.db"))


@pytest.mark.parametrize(
    ("reply", "status", "code"),
    [
        ("timeout", 504, "upstream_timeout"),
        ("html", 502, "upstream_bad_response"),
        ("logits", 502, "upstream_bad_response"),
        ("short", 502, "upstream_bad_response"),
        ("400", 502, "upstream_refused"),
        ("500", 502, "upstream_error"),
    ],
)
def test_upstream_failures_are_502_or_504_and_charge_nothing(
    victim_dir: Path, space_file: Path, tmp_path: Path, reply: str, status: int, code: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        n = len(json.loads(request.content)["instances"])
        if reply == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if reply == "html":
            return httpx.Response(200, text="<html>oops</html>")
        if reply == "logits":
            return httpx.Response(200, json={"predictions": [[3.0] * 10] * n})
        if reply == "short":
            return httpx.Response(200, json={"predictions": [[0.1] * 10] * (n - 1)})
        return httpx.Response(int(reply), json={"error": "no"})

    gateway = in_process(victim_dir, space_file, handler, tmp_path)
    gateway.store.create_key("c")
    with pytest.raises(GatewayError) as err:
        gateway.predict(gateway.store.client("c"), "digits", [[0.0] * 64] * 3, ip="10.0.0.1")
    assert (err.value.status, err.value.code) == (status, code)
    client = gateway.store.client("c")
    assert client.rows == 0 and client.spent == 0
    entry = gateway.store.log(1)[0]
    assert (entry["status"], entry["code"], entry["charged_rows"]) == (status, code, 0)
    assert gateway.limiter.remaining("1000/hour", "key", str(client.id)) == 1000


def test_serve_upstream_refuses_to_start_without_a_working_upstream(
    space_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1/models/digits"
    argv = ["serve", "--upstream", dead, "--protocol", "tfserving", "--feature-space", str(space_file)]
    assert main([*argv, "--db", str(tmp_path / "x.db"), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "check the address" in err[0]
    assert main(["serve", "--upstream", dead, "--db", str(tmp_path / "y.db")]) == 2
    assert "--protocol NAME and --feature-space FILE" in capsys.readouterr().err
    assert main(["serve", "--db", str(tmp_path / "z.db")]) == 2
    assert "name a model directory" in capsys.readouterr().err
