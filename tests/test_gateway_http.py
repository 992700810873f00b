"""The gateway over real HTTP: a uvicorn process on a free loopback port."""

from __future__ import annotations

import base64
import io
import json
import signal
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from modelsteal.attacks import make_attack
from modelsteal.campaigns.experiment import eval_set_for
from modelsteal.errors import Refused
from modelsteal.gateway.store import Store
from modelsteal.oracle import Oracle
from modelsteal.oracle.http import HTTPTransport
from modelsteal.victims import load_model_dir, save_model_dir
from tests.servers import create_key, gateway_server, stop

ADMIN = "admin-secret"
PRICE = 0.002

POLICY = f"""
tiers:
  default:
    key_limits: ["100000/hour", "1000000/day"]
    ip_limits: ["1000000/hour"]
    price_per_row: {PRICE}
  small:
    key_limits: ["50/day"]
    ip_limits: ["1000000/hour"]
    price_per_row: 0.01
  top3:
    output: {{kind: top_k, k: 3}}
  label:
    output: {{kind: label}}
  rounded:
    output: {{kind: probabilities, decimals: 2}}
max_batch_rows: 500
max_body_bytes: 200000
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, victim_factory: Callable) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("gw")
    victim, data = victim_factory("digits", "softmax")
    model_dir = save_model_dir(victim, data, root / "digits", seed=0)
    policy = root / "policy.yaml"
    policy.write_text(POLICY)
    db = root / "gw.db"
    store = Store(db)
    keys = {
        tier: store.create_key(f"client-{tier}", tier)
        for tier in ("default", "small", "top3", "label", "rounded")
    }
    keys["revoked"] = store.create_key("client-revoked")
    store.set_flag("client-revoked", "revoked", True)
    store.close()
    with gateway_server([model_dir], db, policy=policy, admin_key=ADMIN) as (url, proc):
        yield {
            "url": url,
            "keys": keys,
            "db": db,
            "dir": model_dir,
            "data": data,
            "victim": victim,
            "proc": proc,
        }


def post(
    served: dict, key: str | None, body: object, path: str = "/v1/models/digits/predict", **kw: object
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if isinstance(body, bytes | str):
        return httpx.post(
            served["url"] + path,
            content=body,
            headers=headers | {"content-type": "application/json"},
            timeout=30,
            **kw,
        )
    return httpx.post(served["url"] + path, json=body, headers=headers, timeout=30, **kw)


def fresh_key(served: dict, name: str, tier: str = "default") -> str:
    return create_key(served["db"], name, tier)


def usage(served: dict, key: str) -> dict:
    return httpx.get(served["url"] + "/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()


def test_keys_401_and_403(served: dict) -> None:
    rows = {"instances": served["data"].X_test[:1].tolist()}
    r = post(served, None, rows)
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_key"
    r = post(served, "msk_not-a-key", rows)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_key"
    r = post(served, served["keys"]["revoked"], rows)
    assert r.status_code == 403 and r.json()["error"]["code"] == "key_revoked"


def test_admin_blocks_and_unblocks(served: dict) -> None:
    url, admin = served["url"], {"Authorization": f"Bearer {ADMIN}"}
    rows = {"instances": served["data"].X_test[:1].tolist()}
    key = fresh_key(served, "to-block", "top3")
    assert httpx.post(url + "/v1/admin/clients/to-block/block").status_code == 401
    assert httpx.post(url + "/v1/admin/clients/to-block/block", headers=admin).json()["blocked"] is True
    r = post(served, key, rows)
    assert r.status_code == 403 and r.json()["error"]["code"] == "key_blocked"
    assert httpx.post(url + "/v1/admin/clients/to-block/unblock", headers=admin).status_code == 200
    assert post(served, key, rows).status_code == 200
    clients = httpx.get(url + "/v1/admin/clients", headers=admin).json()["clients"]
    assert {c["name"] for c in clients} >= {"client-default", "client-small", "client-revoked"}
    assert httpx.post(url + "/v1/admin/clients/nobody/block", headers=admin).status_code == 404


def test_quota_is_counted_in_rows_with_retry_after(served: dict) -> None:
    key, X = fresh_key(served, "quota-in-rows", "small"), served["data"].X_test
    assert post(served, key, {"instances": X[:30].tolist()}).status_code == 200
    r = post(served, key, {"instances": X[:30].tolist()})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "quota_exceeded"
    assert int(r.headers["Retry-After"]) >= 1
    assert post(served, key, {"instances": X[:20].tolist()}).status_code == 200  # exactly 50 rows
    assert post(served, key, {"instances": X[:1].tolist()}).status_code == 429
    u = usage(served, key)
    assert u["rows"] == 50 and u["requests"] == 2
    assert u["spent"] == pytest.approx(0.5)
    assert u["remaining"] == {"50/day": 0}


def test_price_accounting(served: dict) -> None:
    key, X = served["keys"]["default"], served["data"].X_test
    before = usage(served, key)
    r = post(served, key, {"instances": X[:7].tolist()})
    assert r.json()["usage"] == {"rows": 7, "cost": pytest.approx(7 * PRICE), "price_per_row": PRICE}
    after = usage(served, key)
    assert after["rows"] - before["rows"] == 7
    assert after["spent"] - before["spent"] == pytest.approx(7 * PRICE)


def test_every_output_mode(served: dict) -> None:
    X, victim = served["data"].X_test[:5], served["victim"]
    P = victim.predict_proba(X)
    full = post(served, served["keys"]["default"], {"instances": X.tolist()}).json()["predictions"]
    assert np.array_equal(np.array([p["probabilities"] for p in full]), P)  # exact through JSON
    assert [p["label_index"] for p in full] == P.argmax(axis=1).tolist()
    top = post(served, served["keys"]["top3"], {"instances": X.tolist()}).json()["predictions"]
    assert all("probabilities" not in p and len(p["top_k"]) == 3 for p in top)
    assert [p["top_k"][0]["label_index"] for p in top] == P.argmax(axis=1).tolist()
    assert top[0]["top_k"][0]["probability"] == P[0].max()
    label = post(served, served["keys"]["label"], {"instances": X.tolist()}).json()["predictions"]
    assert all(set(p) == {"label", "label_index"} for p in label)
    rounded = post(served, served["keys"]["rounded"], {"instances": X.tolist()}).json()["predictions"]
    assert np.array_equal(np.array([p["probabilities"] for p in rounded]), np.round(P, 2))


def png_base64(pixels: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_single_image_request_verbatim(served: dict) -> None:
    x = served["data"].X_test[3]
    pixels = np.round(x.reshape(8, 8) / 16.0 * 255.0)
    body = {"image_base64": png_base64(pixels)}
    r = httpx.post(
        served["url"] + "/predict",
        json=body,
        headers={"Authorization": f"Bearer {served['keys']['default']}"},
    )
    assert r.status_code == 200
    out = r.json()
    assert set(out) == {"class", "confidence"}
    seen = pixels.reshape(1, -1) / 255.0 * 16.0
    proba = served["victim"].predict_proba(seen)[0]
    assert out["class"] == served["data"].class_names[int(proba.argmax())]
    assert out["confidence"] == pytest.approx(proba.max())
    feat = httpx.post(
        served["url"] + "/predict",
        json={"features": x.tolist()},
        headers={"Authorization": f"Bearer {served['keys']['default']}"},
    ).json()
    assert feat["class"] == served["data"].class_names[int(served["victim"].predict(x[None])[0])]


BAD = [
    (b"{not json", 400, "malformed_json"),
    ({"rows": []}, 422, "invalid_request"),
    ({"instances": []}, 422, "empty_batch"),
    ({"instances": [[1.0] * 63]}, 422, "wrong_feature_count"),
    ({"instances": [["a"] * 64]}, 422, "not_numeric"),
    ({"instances": [[True] * 64]}, 422, "not_numeric"),
    (b'{"instances": [[' + b",".join([b"NaN"] * 64) + b"]]}", 422, "not_finite"),
    (b'{"instances": [[' + b",".join([b"Infinity"] * 64) + b"]]}", 422, "not_finite"),
    ({"instances": [[99.0] * 64]}, 422, "out_of_space"),
    ({"instances": [[1.0] * 64] * 501}, 413, "batch_too_large"),
    ({"instances": [[1.0] * 64] * 499, "pad": "x" * 200_000}, 413, "body_too_large"),
    ({"instances": [[None] * 64]}, 422, "missing_feature"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD, ids=[c for _, _, c in BAD])
def test_bad_input_is_4xx_with_a_code_and_charges_nothing(
    served: dict, body: object, status: int, code: str
) -> None:
    key = served["keys"]["default"]
    before = usage(served, key)
    r = post(served, key, body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    after = usage(served, key)
    assert (after["rows"], after["spent"], after["remaining"]) == (
        before["rows"],
        before["spent"],
        before["remaining"],
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"image_base64": "!!!"}, "invalid_base64"),
        ({"image_base64": base64.b64encode(b"GIF89a...").decode()}, "invalid_image"),
        ({"x": 1}, "invalid_request"),
    ],
)
def test_bad_images_are_refused(served: dict, body: dict, code: str) -> None:
    r = post(served, served["keys"]["default"], body, path="/predict")
    assert r.status_code == 422 and r.json()["error"]["code"] == code


def test_every_request_is_in_the_log(served: dict) -> None:
    conn = sqlite3.connect(served["db"])
    before = conn.execute("SELECT COUNT(*) FROM query_log").fetchone()[0]
    key = served["keys"]["default"]
    post(served, key, {"instances": served["data"].X_test[:2].tolist()})
    post(served, key, {"instances": [[1.0] * 3]})
    post(served, None, {"instances": [[1.0] * 64]})
    rows = conn.execute(
        "SELECT status, code, rows, charged_rows, input_digest FROM query_log ORDER BY id DESC LIMIT 3"
    ).fetchall()
    assert conn.execute("SELECT COUNT(*) FROM query_log").fetchone()[0] == before + 3
    assert [r[0] for r in rows] == [401, 422, 200]
    assert rows[2][2:4] == (2, 2) and len(rows[2][4]) == 64
    assert rows[1][1] == "wrong_feature_count" and rows[1][3] == 0


def test_models_are_described_with_the_callers_output_mode(served: dict) -> None:
    headers = {"Authorization": f"Bearer {served['keys']['top3']}"}
    models = httpx.get(served["url"] + "/v1/models", headers=headers).json()["models"]
    assert [m["name"] for m in models] == ["digits"]
    one = httpx.get(served["url"] + "/v1/models/digits", headers=headers).json()
    assert one["family"] == "softmax" and one["output_mode"]["kind"] == "top_k"
    assert len(one["feature_space"]["names"]) == 64
    r = httpx.get(served["url"] + "/v1/models/nope", headers=headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_model"


def test_health_metrics_and_openapi(served: dict) -> None:
    assert httpx.get(served["url"] + "/healthz").json()["status"] == "ok"
    rows = {"instances": served["data"].X_test[:1].tolist()}  # its own requests: any test order
    assert post(served, fresh_key(served, "metrics"), rows).status_code == 200
    assert post(served, None, rows).status_code == 401
    text = httpx.get(served["url"] + "/metrics").text
    assert "modelsteal_requests_total" in text and "modelsteal_request_seconds_bucket" in text
    assert 'modelsteal_refusals_total{code="missing_key"}' in text
    schema = httpx.get(served["url"] + "/openapi.json").json()
    assert {"/v1/models/{name}/predict", "/predict", "/v1/usage", "/healthz", "/metrics"} <= set(
        schema["paths"]
    )


def test_stealing_over_http_equals_stealing_in_memory(served: dict) -> None:
    """Softmax on digits: fidelity 1.0 with d+1 = 65 queries through the real server."""
    transport = HTTPTransport(served["url"] + "/v1/models/digits", served["keys"]["default"])
    oracle = Oracle(transport)
    ev = eval_set_for(load_model_dir(served["dir"]), n_uniform=10_000)
    result = make_attack("equation-solving").run(oracle, budget=65, random_state=0, eval_set=ev)
    transport.close()
    assert result.queries == 65
    assert result.cost == pytest.approx(65 * PRICE)
    c = result.comparison
    assert c is not None and c.fidelity_test == 1.0 and c.fidelity_uniform == 1.0 and c.tv_test_max < 1e-6


def test_http_transport_maps_refusals(served: dict) -> None:
    with pytest.raises(Refused) as info:
        HTTPTransport(served["url"] + "/v1/models/digits", "msk_wrong").describe()
    assert info.value.code == "invalid_key" and info.value.status == 401


@pytest.mark.e2e
def test_cli_attack_over_http(served: dict) -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelsteal",
            "attack",
            served["url"] + "/v1/models/digits",
            "--api-key",
            served["keys"]["default"],
            "--attack",
            "equation-solving",
            "--budget",
            "65",
            "--eval",
            str(served["dir"]),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["queries"] == 65 and summary["fidelity_uniform"] == 1.0
    assert summary["cost"] == pytest.approx(65 * PRICE)


@pytest.mark.e2e
def test_an_answered_request_survives_a_kill(tmp_path: Path, served: dict) -> None:
    """SIGKILL right after the answer: the request is in the log and in the usage."""
    db = tmp_path / "kill.db"
    store = Store(db)
    key = store.create_key("victim-of-kill")
    store.close()
    with gateway_server([served["dir"]], db) as (url, proc):
        r = httpx.post(
            url + "/v1/models/digits/predict",
            json={"instances": served["data"].X_test[:3].tolist()},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 200
        stop(proc, signal.SIGKILL)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT rows, status FROM query_log WHERE status = 200").fetchall() == [(3, 200)]
    assert conn.execute("SELECT rows FROM clients WHERE name = 'victim-of-kill'").fetchone() == (3,)


def test_http_transport_maps_429_to_rate_limited(served: dict) -> None:
    """The 'small' tier's 50-row daily quota, spent one row at a time."""
    from modelsteal.errors import RateLimited

    transport = HTTPTransport(served["url"] + "/v1/models/digits", fresh_key(served, "maps-429", "small"))
    oracle = Oracle(transport)
    X = served["data"].X_test
    with pytest.raises(RateLimited) as info:
        for _ in range(60):
            oracle.query(X[:1])
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    assert oracle.queries == 50  # the quota's rows, and not the refused one
    transport.close()
