"""The gateway in-process: the same pipeline without a socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.cli import main
from modelsteal.errors import InvalidInput, RateLimited, Refused
from modelsteal.gateway import Gateway, GatewayError, Policy, ServedModel, Store, Tier, create_app
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.metrics import EvalSet
from modelsteal.oracle import Oracle, OutputMode


@pytest.fixture()
def gateway(tmp_path: Path, victim_factory: Callable) -> Gateway:
    victim, data = victim_factory("digits", "softmax")
    policy = Policy(
        tiers={
            "default": Tier("default", key_limits=("100/day",), ip_limits=("10000/day",), price_per_row=0.01),
            "label": Tier("label", output=OutputMode("label")),
        }
    )
    return Gateway(
        [ServedModel("digits", victim, data.class_names)], policy=policy, store=Store(tmp_path / "gw.db")
    )


def test_steal_through_the_gateway_in_process(gateway: Gateway, victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "softmax")
    key = gateway.store.create_key("thief")
    oracle = Oracle(GatewayTransport(gateway, key, "digits"))
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=2000)
    result = make_attack("eq-softmax").run(oracle, budget=65, random_state=0, eval_set=ev)
    assert result.comparison is not None and result.comparison.fidelity_uniform == 1.0
    assert result.cost == pytest.approx(0.65)
    assert gateway.store.client("thief").rows == 65
    # the quota (100 rows a day) stops the next attempt before it completes
    with pytest.raises(RateLimited) as info:
        make_attack("eq-softmax").run(Oracle(GatewayTransport(gateway, key, "digits")), budget=65)
    assert info.value.retry_after is not None and info.value.retry_after >= 1


def test_label_only_tier_is_refused_by_equation_solving(gateway: Gateway) -> None:
    key = gateway.store.create_key("labels", "label")
    from modelsteal.errors import UnsupportedOracle

    with pytest.raises(UnsupportedOracle):
        make_attack("eq-softmax").run(Oracle(GatewayTransport(gateway, key, "digits")), budget=65)


def test_bad_keys_in_process(gateway: Gateway) -> None:
    with pytest.raises(Refused) as info:
        GatewayTransport(gateway, "msk_nope", "digits").describe()
    assert info.value.status == 401
    key = gateway.store.create_key("gone")
    gateway.store.set_flag("gone", "revoked", True)
    with pytest.raises(Refused) as info:
        GatewayTransport(gateway, key, "digits").describe()
    assert info.value.status == 403 and info.value.code == "key_revoked"


def test_app_in_process(gateway: Gateway) -> None:
    """The FastAPI app through httpx's ASGI transport (no socket, no test-client shim)."""
    key = gateway.store.create_key("asgi")
    app = create_app(gateway)

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            auth = {"Authorization": f"Bearer {key}"}
            return [
                await client.post(
                    "/v1/models/digits/predict", json={"instances": [[0.0] * 64]}, headers=auth
                ),
                await client.post(
                    "/v1/models/digits/predict", json={"instances": [[0.0] * 65]}, headers=auth
                ),
                await client.get("/v1/usage", headers=auth),
                await client.get("/v1/admin/clients", headers=auth),
                await client.get("/nowhere"),
            ]

    ok, bad, usage, admin, missing = asyncio.run(go())
    assert ok.status_code == 200 and len(ok.json()["predictions"][0]["probabilities"]) == 10
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "wrong_feature_count"
    assert usage.json()["rows"] == 1 and usage.json()["remaining"] == {"100/day": 99}
    assert admin.status_code == 403 and admin.json()["error"]["code"] == "admin_disabled"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_policy_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "tiers:\n  pro:\n    key_limits: ['5000/hour']\n    price_per_row: 0.0005\n"
        "    output: {kind: top_k, k: 2, decimals: 3}\nout_of_space: clip\nstore_inputs: true\n"
    )
    policy = Policy.load(path)
    assert set(policy.tiers) == {"pro", "default"}
    pro = policy.tier("pro")
    assert pro.key_limits == ("5000/hour",) and pro.ip_limits == ("5000/hour", "50000/day")
    assert pro.output == OutputMode("top_k", k=2, decimals=3)
    assert policy.out_of_space == "clip" and policy.store_inputs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tiers:\n  a:\n    key_limits: ['lots']\n", "bad limit"),
        ("tiers:\n  a:\n    price_per_row: -1\n", ">= 0"),
        ("tiers:\n  a:\n    colour: red\n", "unknown fields"),
        ("speed: fast\n", "unknown policy fields"),
        ("out_of_space: ignore\n", "refuse or clip"),
        ("tiers: [\n", "not valid YAML"),
    ],
)
def test_bad_policies_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        Policy.load(path)


def test_keys_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "k.db"
    assert main(["keys", "create", "--db", str(db), "--name", "alice", "--tier", "default"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("msk_") and len(key) > 40
    store = Store(db)
    assert store.authenticate(key) is not None
    assert key not in (db.read_bytes().decode("latin-1"))  # stored hashed only
    assert main(["keys", "create", "--db", str(db), "--name", "alice"]) == 2
    assert main(["keys", "revoke", "--db", str(db), "--name", "alice"]) == 0
    assert store.authenticate(key).revoked  # type: ignore[union-attr]
    assert main(["keys", "list", "--db", str(db)]) == 0
    assert "alice\tdefault\trevoked" in capsys.readouterr().out


def test_log_keeps_exact_answers_and_optionally_inputs(tmp_path: Path, victim_factory: Callable) -> None:
    import sqlite3

    import numpy as np

    from modelsteal.gateway.store import unpack_answers

    victim, data = victim_factory("digits", "softmax")
    for store_inputs in (False, True):
        db = tmp_path / f"log-{store_inputs}.db"
        gw = Gateway(
            [ServedModel("digits", victim, data.class_names)],
            policy=Policy(store_inputs=store_inputs),
            store=Store(db),
        )
        key = gw.store.create_key("auditor")
        X = data.X_test[:4]
        gw.predict(gw.authenticate(key), "digits", X.tolist(), ip="10.0.0.1")
        answer, inputs, ip, digest = (
            sqlite3.connect(db).execute("SELECT answer, inputs, ip, input_digest FROM query_log").fetchone()
        )
        assert np.array_equal(unpack_answers(answer).probabilities, victim.predict_proba(X))
        assert ip == "10.0.0.1" and len(digest) == 64
        if store_inputs:
            assert np.array_equal(np.frombuffer(inputs, dtype="<f8").reshape(4, 64), X)
        else:
            assert inputs is None


def test_out_of_space_rows_are_clipped_when_the_policy_says_so(
    tmp_path: Path, victim_factory: Callable
) -> None:
    victim, data = victim_factory("digits", "softmax")
    served = [ServedModel("digits", victim, data.class_names)]
    row = [[20.0] * 64]
    refuse = Gateway(served, store=Store(tmp_path / "a.db"))
    with pytest.raises(GatewayError, match="outside the published feature space") as info:
        refuse.predict(refuse.authenticate(refuse.store.create_key("a")), "digits", row, ip="x")
    assert (info.value.status, info.value.code) == (422, "out_of_space")
    clip = Gateway(served, policy=Policy(out_of_space="clip"), store=Store(tmp_path / "b.db"))
    result = clip.predict(clip.authenticate(clip.store.create_key("b")), "digits", row, ip="x")
    assert result.answers.probabilities is not None
    assert np.array_equal(result.answers.probabilities, victim.predict_proba(np.full((1, 64), 16.0)))
