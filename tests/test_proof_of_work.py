"""Proof of work (Dziedzic et al. 2022): HashCash puzzles before answers, priced by leakage."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.defenses.proof_of_work import ProofOfWork, ProofRefused, leading_zero_bits, solve
from modelsteal.errors import InvalidInput
from modelsteal.gateway import Gateway, Policy
from modelsteal.gateway.service import GatewayError, ServedModel, digest_rows
from modelsteal.gateway.store import Store
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.oracle import Oracle
from modelsteal.oracle.http import HTTPTransport
from modelsteal.victims import save_model_dir
from tests.servers import create_key, gateway_server

POLICY = """
tiers:
  default:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
    proof_of_work: {base_bits: 6, free_rows: 10, alarm_bits: 4, max_bits: 16, ttl: 60, secret: test-secret}
"""


def test_puzzles_solve_verify_and_refuse_what_they_should() -> None:
    work = ProofOfWork(base_bits=6, secret="s")
    X = np.zeros((3, 2))
    digest = digest_rows(X)
    needed = work.work_for(3, taken=0, flagged=False)
    assert needed == 3 * 2**6  # three rows cost three puzzles of base_bits
    challenge = work.challenge("alice", digest, needed, now=1000.0)
    assert challenge["parts"] * 2 ** challenge["part_bits"] == 192  # 24 parts of 3 bits
    header, hashes = solve(challenge)
    assert hashes >= challenge["parts"]
    nonces = [int(n) for n in header.rsplit(":", 1)[1].split(",")]
    assert len(nonces) == challenge["parts"]
    for i, nonce in enumerate(nonces):
        seed = f"{challenge['seed']}.{i}".encode()
        assert leading_zero_bits(hashlib.sha256(seed + nonce.to_bytes(8, "little")).digest()) >= 3
    work.verify("alice", digest, header, min_work=needed, now=1001.0)
    with pytest.raises(ProofRefused) as caught:
        work.verify("alice", digest, header, min_work=needed, now=1002.0)
    assert caught.value.code == "proof_of_work_replayed"
    fresh = work.challenge("alice", digest, needed, now=2000.0)
    header2, _ = solve(fresh)
    seed = f"{fresh['seed']}.{fresh['parts'] - 1}".encode()
    failing = next(
        n
        for n in range(1000)
        if leading_zero_bits(hashlib.sha256(seed + n.to_bytes(8, "little")).digest()) < 3
    )
    for client, rows, proof, now, code in [
        ("bob", digest, header2, 2001.0, "proof_of_work_invalid"),  # another key
        ("alice", digest_rows(X + 1), header2, 2001.0, "proof_of_work_invalid"),  # other rows
        ("alice", digest, header2.rsplit(",", 1)[0] + f",{failing}", 2001.0, "proof_of_work_invalid"),
        ("alice", digest, header2.rsplit(",", 1)[0], 2001.0, "proof_of_work_invalid"),  # a nonce short
        ("alice", digest, "garbage", 2001.0, "proof_of_work_invalid"),
        ("alice", digest, header2, 2100.0, "proof_of_work_expired"),
    ]:
        with pytest.raises(ProofRefused) as caught:
            work.verify(client, rows, proof, min_work=needed, now=now)
        assert caught.value.code == code, (client, proof)
    with pytest.raises(ProofRefused, match="needs 384 hashes of work, not 192"):
        work.verify("alice", digest, header2, min_work=2 * needed, now=2001.0)


def test_puzzles_price_any_work_closely_and_vary_little() -> None:
    from modelsteal.defenses.proof_of_work import puzzle_for

    for target in (1, 5, 16, 100, 1000, 3 * 2**12, 12345, 2**20 + 7):
        parts, bits = puzzle_for(target)
        assert abs(parts * 2**bits - target) <= 0.035 * target + 0.5
        assert parts <= 32
    work = ProofOfWork(secret="s")
    digest = digest_rows(np.zeros((1, 2)))
    # 50 puzzles of 4096 expected hashes: the mean is near 4096 and the spread about a quarter
    spent = [solve(work.challenge("bob", digest, 4096, now=1000.0 + i))[1] for i in range(50)]
    assert 0.8 * 4096 < np.mean(spent) < 1.25 * 4096
    assert np.std(spent) < 0.45 * 4096  # one 12-bit HashCash puzzle would spread about 4096


def test_difficulty_grows_with_what_the_client_took() -> None:
    work = ProofOfWork(base_bits=8, free_rows=1000, alarm_bits=6, max_bits=30)
    one = [work.bits_for(1, taken=t, flagged=False) for t in (0, 1000, 2000, 4000, 64_000)]
    assert one == [8, 8, 9, 10, 14]
    assert work.bits_for(1, taken=0, flagged=True) == 14
    assert work.bits_for(100, taken=0, flagged=False) == 8 + 7
    assert ProofOfWork(max_bits=12).bits_for(10_000, taken=10**9, flagged=True) == 12
    # with uncertain_bits, each row the model doubts weighs 2^u rows
    doubt = ProofOfWork(base_bits=6, uncertain_bits=4)
    assert doubt.work_for(16, taken=0, flagged=False, uncertain=0) == 16 * 2**6
    assert doubt.work_for(16, taken=0, flagged=False, uncertain=16) == 16 * 16 * 2**6
    assert doubt.work_for(16, taken=0, flagged=False, uncertain=1) == 31 * 2**6


def test_rows_the_model_doubts_cost_more_work(tmp_path: Path, victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "softmax")
    policy = Policy.from_dict(
        {"tiers": {"default": {"proof_of_work": {"base_bits": 6, "uncertain_bits": 4, "confident": 0.7}}}}
    )
    gateway = Gateway(
        [ServedModel("digits", victim, data.class_names)], policy=policy, store=Store(tmp_path / "g")
    )
    gateway.store.create_key("c")
    top = victim.predict_proba(data.X_test).max(axis=1)
    sure, unsure = data.X_test[top > 0.99][:8], data.X_test[top < 0.7][:8]
    assert len(sure) == len(unsure) == 8
    bits = {}
    for label, X in (("sure", sure), ("unsure", unsure)):
        with pytest.raises(GatewayError) as caught:
            gateway.predict(gateway.store.client("c"), "digits", X.tolist(), ip="10.0.0.1")
        bits[label] = caught.value.body()["error"]["challenge"]["bits"]
    assert bits == {"sure": 9.0, "unsure": 13.0}  # 8 rows: 8·2^6 hashes, and 16 times that


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
        "expires",
    }
    assert gateway.store.client("thief").rows == 0
    assert gateway.store.log(1)[0]["status"] == 428
    transport = GatewayTransport(gateway, key, "digits")
    result = make_attack("eq-softmax").run(Oracle(transport), budget=65, random_state=0)
    assert result.queries == 65 and gateway.store.client("thief").rows == 65
    assert result.notes["work_puzzles"] >= 1 and result.notes["work_seconds"] > 0


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
        again = httpx.post(
            url + "/v1/models/digits/predict", json=body, headers={**auth, "X-Proof-Of-Work": proof}
        )
        assert again.json()["error"]["code"] == "proof_of_work_replayed"
        assert httpx.get(url + "/v1/usage", headers=auth).json()["rows"] == 4  # only the answered batch
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
    policy = Policy.from_dict(
        {
            "tiers": {
                "default": {
                    "key_limits": ["100000/hour"],
                    "ip_limits": ["1000000/hour"],
                    "proof_of_work": {"base_bits": 4, "free_rows": 50, "secret": "s"},
                }
            }
        }
    )
    gateway = Gateway(
        [ServedModel("digits", victim, data.class_names)], policy=policy, store=Store(tmp_path / "g")
    )
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
        assert result.notes["work_puzzles"] == 100
    # one key passes 50 rows early and pays up to 5 more bits; each of ten keys only 2
    assert hashes["one key"] > 2 * hashes["ten keys"], hashes
