"""Proof of work (Dziedzic et al. 2022): HashCash puzzles before answers, priced by leakage."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.defenses.proof_of_work import ProofOfWork, ProofRefused
from modelsteal.errors import InvalidInput, RateLimited
from modelsteal.gateway import Gateway, Policy
from modelsteal.gateway.service import GatewayError, ServedModel
from modelsteal.gateway.store import Store
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.oracle import Oracle
from modelsteal.oracle.http import HTTPTransport
from modelsteal.oracle.work import leading_zero_bits, solve
from modelsteal.victims import save_model_dir
from tests.servers import create_key, gateway_server

POLICY = """
tiers:
  default:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
    proof_of_work: {base_bits: 6, free_rows: 10, alarm_bits: 4, max_bits: 16, ttl: 60, secret: test-secret}
"""


def test_puzzles_solve_redeem_into_credit_and_refuse_what_they_should() -> None:
    work = ProofOfWork(base_bits=6, secret="s", ttl=60)
    needed = work.work_for(3, taken=0, flagged=False)
    assert needed == 3 * 2**6  # three rows cost three puzzles of base_bits
    challenge = work.challenge("alice", needed, now=1000.0)
    assert challenge["parts"] * 2 ** challenge["part_bits"] == challenge["hashes"] == 192  # 24 × 3 bits
    header, hashes = solve(challenge)
    assert hashes >= challenge["parts"]
    nonces = [int(n) for n in header.rsplit(":", 1)[1].split(",")]
    assert len(nonces) == challenge["parts"]
    for i, nonce in enumerate(nonces):
        seed = f"{challenge['seed']}.{i}".encode()
        assert leading_zero_bits(hashlib.sha256(seed + nonce.to_bytes(8, "little")).digest()) >= 3
    assert work.credit("alice") == 0 and not work.charge("alice", needed)
    assert work.redeem("alice", header, now=1001.0) == 192
    assert work.credit("alice") == 192 and work.credit("bob") == 0
    assert work.charge("alice", 100) and work.credit("alice") == 92
    assert not work.charge("alice", 100) and work.credit("alice") == 92  # nothing taken when short
    work.refund("alice", 100)
    assert work.credit("alice") == 192
    with pytest.raises(ProofRefused) as caught:
        work.redeem("alice", header, now=1002.0)
    assert caught.value.code == "proof_of_work_replayed"
    assert work.credit("alice") == 192  # a replay adds nothing
    fresh = work.challenge("alice", needed, now=2000.0)
    header2, _ = solve(fresh)
    seed = f"{fresh['seed']}.{fresh['parts'] - 1}".encode()
    failing = next(
        n
        for n in range(1000)
        if leading_zero_bits(hashlib.sha256(seed + n.to_bytes(8, "little")).digest()) < 3
    )
    challenge_id = header2.rsplit(":", 1)[0]
    expires, parts, bits, salt = challenge_id.split(".")
    for client, proof, now, code in [
        ("bob", header2, 2001.0, "proof_of_work_invalid"),  # issued to another key
        ("alice", header2.rsplit(",", 1)[0] + f",{failing}", 2001.0, "proof_of_work_invalid"),
        ("alice", header2.rsplit(",", 1)[0], 2001.0, "proof_of_work_invalid"),  # a nonce short
        (
            "alice",
            f"{expires}.{parts}.{int(bits) + 1}.{salt}:" + header2.rsplit(":", 1)[1],
            2001.0,
            "proof_of_work_invalid",
        ),  # claims more work than was solved
        (
            "alice",
            f"{10**10}.{parts}.{bits}.{salt}:" + header2.rsplit(":", 1)[1],
            2001.0,
            "proof_of_work_invalid",
        ),  # an expiry the gateway never gives: work stockpiled ahead
        ("alice", "garbage", 2001.0, "proof_of_work_invalid"),
        ("alice", header2, 2100.0, "proof_of_work_expired"),
    ]:
        with pytest.raises(ProofRefused) as caught:
            work.redeem(client, proof, now=now)
        assert caught.value.code == code, (client, proof)
    assert work.credit("alice") == 192 and work.credit("bob") == 0


def test_puzzles_price_any_work_closely_and_vary_little() -> None:
    from modelsteal.oracle.work import puzzle_for

    for target in (1, 5, 16, 100, 1000, 3 * 2**12, 12345, 2**20 + 7):
        parts, bits = puzzle_for(target)
        assert target <= parts * 2**bits <= target * (1 + 1 / 16) + 1  # never short, at most 1/16 over
        assert parts <= 32
    work = ProofOfWork(secret="s")
    # 50 puzzles of 4096 expected hashes: the mean is near 4096 and the spread about a quarter
    spent = [solve(work.challenge("bob", 4096, now=1000.0 + i))[1] for i in range(50)]
    assert 0.8 * 4096 < np.mean(spent) < 1.25 * 4096
    assert np.std(spent) < 0.45 * 4096  # one 12-bit HashCash puzzle would spread about 4096


def pow_gateway(victim: object, data: object, where: Path, tier: dict) -> Gateway:  # type: ignore[type-arg]
    """A gateway serving ``victim`` as "digits" with one tier ``tier`` (its proof of work included)."""
    policy = Policy.from_dict({"tiers": {"default": tier}})
    served = ServedModel("digits", victim, data.class_names)  # type: ignore[attr-defined]
    return Gateway([served], policy=policy, store=Store(where / "g"))


def test_each_answer_carries_the_next_challenge_so_a_steady_client_never_waits(
    tmp_path: Path, victim_factory: Callable
) -> None:
    victim, data = victim_factory("digits", "softmax")
    tier = {"key_limits": ["400/hour"], "proof_of_work": {"base_bits": 4, "uncertain_bits": 0, "secret": "s"}}
    gateway = pow_gateway(victim, data, tmp_path, tier)
    transport = GatewayTransport(gateway, gateway.store.create_key("c"), "digits")
    work = gateway.policy.tiers["default"].proof_of_work
    assert work is not None
    sizes = [10, 12, 8, 10, 11, 9, 10, 10, 12, 10]
    for n in sizes:
        transport.send(data.X_test[:n])
    statuses = [row["status"] for row in reversed(gateway.store.log(50))]
    assert statuses == [428] + [200] * len(sizes)  # only the key's first request waits
    # what the client was asked for is every batch's price plus the credit it holds ahead
    price = sum(sizes) * 2**4
    left = work.credit("c")
    assert transport.work.asked == price + left
    assert left <= 3.3 * 10 * 2**4  # about three usual batches are held ahead, no more
    # a batch far above the usual size waits for one round trip for the shortfall, charging nothing
    transport.send(data.X_test[:200])
    assert [row["status"] for row in gateway.store.log(2)] == [200, 428]
    assert transport.work.asked == price + 200 * 2**4 + work.credit("c")
    # a row limit that refuses after the work was taken gives the price back to the credit
    before, asked_before = work.credit("c"), transport.work.asked
    with pytest.raises(RateLimited):
        transport.send(data.X_test[:120])  # 302 of 400 rows taken
    assert gateway.store.log(1)[0]["status"] == 429
    assert work.credit("c") == before + (transport.work.asked - asked_before)


def test_difficulty_grows_with_what_the_client_took() -> None:
    work = ProofOfWork(base_bits=8, free_rows=1000, alarm_bits=6, max_bits=30)
    one = [work.bits_for(1, taken=t, flagged=False) for t in (0, 1000, 2000, 4000, 64_000)]
    assert one == [8, 8, 9, 10, 14]
    assert work.bits_for(1, taken=0, flagged=True) == 14
    assert work.bits_for(100, taken=0, flagged=False) == 8 + 7
    assert ProofOfWork(max_bits=12).bits_for(1, taken=10**9, flagged=True) == 12  # the cap is per row
    assert ProofOfWork(max_bits=12).bits_for(1024, taken=10**9, flagged=True) == 22
    # with uncertain_bits u, a key's rows cost 2^(u·s) more, s its share of rows the model doubts
    doubt = ProofOfWork(base_bits=6, uncertain_bits=4)
    assert doubt.work_for(16, taken=0, flagged=False, share=0.0) == 16 * 2**6
    assert doubt.work_for(16, taken=0, flagged=False, share=1.0) == 16 * 16 * 2**6
    assert doubt.work_for(16, taken=0, flagged=False, share=0.5) == 16 * 4 * 2**6
    # the share starts from a prior of 2 doubtful rows in 20 and counts only charged batches
    assert doubt.doubt_share("k", 10, 10) == pytest.approx(12 / 30)
    assert doubt.charge("k", 0.0, rows=10, uncertain=10)
    assert doubt.doubt_share("k", 10, 0) == pytest.approx(12 / 40)
    doubt.refund("k", 0.0, rows=10, uncertain=10)
    assert doubt.doubt_share("k", 10, 0) == pytest.approx(2 / 30)
    assert doubt.doubt_share("other", 10, 0) == pytest.approx(2 / 30)  # each key its own


def test_rows_the_model_doubts_cost_more_work(tmp_path: Path, victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "softmax")
    work = {"base_bits": 6, "uncertain_bits": 4, "confident": 0.7}
    gateway = pow_gateway(victim, data, tmp_path, {"proof_of_work": work})
    gateway.store.create_key("c")
    top = victim.predict_proba(data.X_test).max(axis=1)
    sure, unsure = data.X_test[top > 0.99][:8], data.X_test[top < 0.7][:8]
    assert len(sure) == len(unsure) == 8
    hashes = {}
    for label, X in (("sure", sure), ("unsure", unsure)):
        with pytest.raises(GatewayError) as caught:
            gateway.predict(gateway.store.client("c"), "digits", X.tolist(), ip="10.0.0.1")
        hashes[label] = caught.value.body()["error"]["challenge"]["hashes"]
    # a new key's share: (2 + 0) / 28 for the sure rows, (2 + 8) / 28 for the unsure ones
    for label, share in (("sure", 2 / 28), ("unsure", 10 / 28)):
        price = 8 * 2 ** (6 + 4 * share)
        assert price <= hashes[label] <= price * (1 + 1 / 16) + 1, (label, hashes)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"base_bits": -1}, "base_bits"),
        ({"max_bits": 99}, "max_bits"),
        ({"free_rows": 0}, "free_rows"),
        ({"ttl": 0}, "ttl"),
        ({"difficulty": 3}, "unknown fields: difficulty"),
        ({"uncertain_bits": 21}, "uncertain_bits"),
        ({"confident": 0}, "confident must be a number in"),
    ],
)
def test_bad_proof_of_work_policies_are_refused_at_load(spec: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        Policy.from_dict({"tiers": {"default": {"proof_of_work": spec}}})


def test_in_process_428_charges_nothing_and_the_transport_pays_in_cpu(
    tmp_path: Path, victim_factory: Callable
) -> None:
    victim, data = victim_factory("digits", "softmax")
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(POLICY)
    gateway = Gateway(
        [ServedModel("digits", victim, data.class_names)],
        policy=Policy.load(policy_file),
        store=Store(tmp_path / "g"),
    )
    key = gateway.store.create_key("thief")
    with pytest.raises(GatewayError) as caught:
        gateway.predict(gateway.store.client("thief"), "digits", data.X_test[:5].tolist(), ip="10.0.0.1")
    assert caught.value.status == 428 and caught.value.code == "proof_of_work_required"
    assert set(caught.value.body()["error"]["challenge"]) == {
        "id",
        "seed",
        "bits",
        "parts",
        "part_bits",
        "hashes",
        "expires",
    }
    assert gateway.store.client("thief").rows == 0
    assert gateway.store.log(1)[0]["status"] == 428
    transport = GatewayTransport(gateway, key, "digits")
    result = make_attack("eq-softmax").run(Oracle(transport), budget=65, random_state=0)
    assert result.queries == 65 and gateway.store.client("thief").rows == 65
    assert result.notes["work_puzzles"] >= 1 and result.notes["work_seconds"] > 0


@pytest.mark.e2e
def test_over_http_the_attacker_solves_and_bad_proofs_get_428(
    tmp_path: Path, victim_factory: Callable
) -> None:
    victim, data = victim_factory("digits", "softmax")
    model_dir = save_model_dir(victim, data, tmp_path / "digits", seed=0)
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(POLICY)
    db = tmp_path / "gw.db"
    with gateway_server([model_dir], db, policy=policy_file) as (url, _):
        key = create_key(db, "thief")
        auth = {"Authorization": f"Bearer {key}"}
        body = {"instances": data.X_test[:4].tolist()}
        first = httpx.post(url + "/v1/models/digits/predict", json=body, headers=auth)
        assert first.status_code == 428
        challenge = first.json()["error"]["challenge"]
        proof, _ = solve(challenge)
        bad = httpx.post(
            url + "/v1/models/digits/predict", json=body, headers={**auth, "X-Proof-Of-Work": "1.2.x:3"}
        )
        assert bad.status_code == 428 and bad.json()["error"]["code"] == "proof_of_work_invalid"
        good = httpx.post(
            url + "/v1/models/digits/predict", json=body, headers={**auth, "X-Proof-Of-Work": proof}
        )
        assert good.status_code == 200 and len(good.json()["predictions"]) == 4
        ahead = good.json()["proof_of_work"]["challenge"]  # the next request's work, paid ahead
        assert ahead["hashes"] >= 4 * 2**6 and ahead["expires"] > challenge["expires"] - 5
        again = httpx.post(
            url + "/v1/models/digits/predict", json=body, headers={**auth, "X-Proof-Of-Work": proof}
        )
        assert again.json()["error"]["code"] == "proof_of_work_replayed"
        assert httpx.get(url + "/v1/usage", headers=auth).json()["rows"] == 4  # only the answered batch
        # the single-item endpoint takes the same proofs: the challenge an answer carried pays for it
        one = {"features": data.X_test[0].tolist()}
        proof, _ = solve(ahead)
        single = httpx.post(url + "/predict", json=one, headers={**auth, "X-Proof-Of-Work": proof})
        assert single.status_code == 200 and "class" in single.json()
        assert httpx.get(url + "/v1/usage", headers=auth).json()["rows"] == 5
        schema = httpx.get(url + "/openapi.json").json()
        assert "428" in schema["paths"]["/v1/models/{name}/predict"]["post"]["responses"]
        transport = HTTPTransport(url + "/v1/models/digits", key)
        result = make_attack("eq-softmax").run(Oracle(transport), budget=65, random_state=0)
        transport.close()
    assert result.queries == 65 and result.notes["work_puzzles"] >= 1


def test_a_thief_splitting_its_budget_over_keys_pays_less_work(
    tmp_path: Path, victim_factory: Callable
) -> None:
    """The defence-aware thief: leakage is priced per key, so ten keys each look small."""
    from modelsteal.oracle import SplitTransport

    victim, data = victim_factory("digits", "softmax")
    work = {"base_bits": 4, "free_rows": 50, "uncertain_bits": 0, "secret": "s"}
    tier = {"key_limits": ["100000/hour"], "ip_limits": ["1000000/hour"], "proof_of_work": work}
    gateway = pow_gateway(victim, data, tmp_path, tier)
    one = GatewayTransport(gateway, gateway.store.create_key("one"), "digits")
    many = SplitTransport(
        [GatewayTransport(gateway, gateway.store.create_key(f"k{i}"), "digits") for i in range(10)], chunk=20
    )
    hashes = {}
    for label, transport in (("one key", one), ("ten keys", many)):
        oracle = Oracle(transport, max_batch=20)
        result = make_attack("retrain-uniform").run(oracle, budget=2000, random_state=0)
        assert result.queries == 2000
        hashes[label] = transport.work.hashes  # type: ignore[union-attr]
        # a puzzle paid ahead with each of the 100 batches, and a few round trips when a price doubled
        assert 100 <= result.notes["work_puzzles"] <= 110
    # one key passes 50 rows early and pays up to 5 more bits; each of ten keys only 2
    assert hashes["one key"] > 2 * hashes["ten keys"], hashes
