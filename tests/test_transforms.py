"""One table holds every answer-side transform to the same contract.

The table is derived from the transform registry, so a new transform cannot miss it: batch
equals row by row, the answer repeats per (API key, input), rows stay probability
vectors, the top-1 class is kept where the transform promises it, and a defended victim
works as an oracle without a server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.defenses.transforms import (
    TRANSFORMS,
    LogitNoise,
    ReverseSigmoid,
    parse_transforms,
    protect,
    row_seeds,
)
from modelsteal.errors import InvalidInput
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle

#: parameters each transform is held to the contract with
SETTINGS = {
    "noise": {"sigma": 0.5},
    "reverse_sigmoid": {"beta": 0.7, "gamma": 0.2},
}


def test_every_registered_transform_is_in_the_table() -> None:
    assert set(SETTINGS) == set(TRANSFORMS)


@pytest.fixture(scope="module")
def digits(victim_factory: Callable) -> tuple:  # type: ignore[type-arg]
    victim, data = victim_factory("digits", "softmax")
    X = np.vstack([data.X_test[:200], data.feature_space.sample_uniform(200, random_state=3)])
    return victim, data, X


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_transform_contract(name: str, digits: tuple) -> None:  # type: ignore[type-arg]
    victim, _, X = digits
    transform = TRANSFORMS[name](**SETTINGS[name])  # type: ignore[arg-type]
    P = victim.predict_proba(X)
    out = transform.apply(P, X, "alice")
    # batches and rows alike
    rows = np.vstack([transform.apply(P[i : i + 1], X[i : i + 1], "alice") for i in range(X.shape[0])])
    assert np.array_equal(out, rows)
    # the same client and input: the same answer; probability vectors
    assert np.array_equal(out, transform.apply(P, X, "alice"))
    assert np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0)
    assert not np.allclose(out, P)  # it does change what the client sees
    if transform.keyed:
        assert not np.allclose(out, transform.apply(P, X, "bob"))  # another key, other noise
    else:
        assert np.array_equal(out, transform.apply(P, X, "bob"))
    if transform.preserves_top1:
        assert np.array_equal(out.argmax(axis=1), P.argmax(axis=1))
    # a defended victim is an oracle without a server, answering as the transform does
    defended = protect(victim, [transform], key="alice")
    answers, _ = LocalTransport(defended).send(X)
    assert answers.probabilities is not None and np.array_equal(answers.probabilities, out)
    assert eval(repr(transform)).params() == transform.params()


def test_averaging_repeated_queries_removes_no_noise(digits: tuple) -> None:  # type: ignore[type-arg]
    victim, data, _ = digits
    oracle = Oracle(LocalTransport(protect(victim, [{"noise": {"sigma": 0.5}}], key="thief")))
    x = data.X_test[:1]
    repeats = np.vstack([oracle.query(x).probabilities for _ in range(20)])  # type: ignore[misc]
    assert np.all(repeats == repeats[0])  # every repeat is the same answer
    assert not np.allclose(repeats.mean(axis=0), victim.predict_proba(x)[0], atol=1e-3)
    # jittering the input draws fresh noise: seeds differ per row
    jittered = x + np.array([[0.0] * 63 + [1e-9]])
    assert row_seeds("s", "k", x) != row_seeds("s", "k", jittered)


def test_defences_cost_exact_equation_solving_its_fidelity(digits: tuple) -> None:  # type: ignore[type-arg]
    victim, data, _ = digits
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=5000, random_state=1)
    fidelity = {}
    for label, spec in {
        "none": [],
        "reverse_sigmoid": [{"reverse_sigmoid": {"beta": 0.7, "gamma": 0.2}}],
        "noise": [{"noise": {"sigma": 0.05}}],
    }.items():
        oracle = Oracle(LocalTransport(protect(victim, spec)))
        result = make_attack("eq-softmax").run(oracle, budget=65, random_state=0, eval_set=ev)
        assert result.comparison is not None
        fidelity[label] = result.comparison.fidelity_uniform
    assert fidelity["none"] == 1.0
    assert fidelity["reverse_sigmoid"] < 0.9 and fidelity["noise"] < 0.6


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([{"noise": {"sigma": -1}}], "sigma must be a number >= 0"),
        ([{"noise": {"sigma": 1, "kind": "cauchy"}}], "kind must be one of"),
        ([{"reverse_sigmoid": {"beta": 0, "gamma": 1}}], "beta must be a number > 0"),
        ([{"reverse_sigmoid": {"beta": 1}}], "reverse_sigmoid: .*gamma"),
        ([{"mad": {"epsilon": 1}}], "unknown transform 'mad'"),
        ({"noise": {"sigma": 1}}, "must be a list"),
        ([{"noise": {"sigma": 1}, "reverse_sigmoid": {}}], "each entry is one"),
    ],
)
def test_bad_transform_specs_name_the_fix(spec: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_transforms(spec)


def test_reverse_sigmoid_keeps_the_label_where_the_raw_formula_would_not() -> None:
    P = np.array([[0.34, 0.33, 0.33], [0.9, 0.05, 0.05]])
    out = ReverseSigmoid(beta=2.0, gamma=5.0).apply(P, np.zeros((2, 1)), "k")
    assert np.array_equal(out.argmax(axis=1), [0, 0])
    assert LogitNoise(sigma=0.0).apply(P, np.zeros((2, 1)), "k").tolist() == P.tolist()


# --------------------------------------------------------------------------- in the gateway
GATEWAY_POLICY = """
tiers:
  default:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
  defended:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
    transforms:
      - reverse_sigmoid: {beta: 0.7, gamma: 0.2}
      - noise: {sigma: 0.05, secret: operator-secret}
"""


def test_a_tier_answers_through_its_transforms_in_process_and_over_http(
    tmp_path: Path,
    digits: tuple,  # type: ignore[type-arg]
) -> None:
    from modelsteal.gateway import Gateway, Policy
    from modelsteal.gateway.service import ServedModel
    from modelsteal.gateway.store import Store
    from modelsteal.gateway.transport import GatewayTransport
    from modelsteal.oracle.http import HTTPTransport
    from modelsteal.victims import save_model_dir
    from tests.servers import create_key, gateway_server

    victim, data, X = digits
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(GATEWAY_POLICY)
    policy = Policy.load(policy_file)
    tier = policy.tier("defended")
    assert [t.name for t in tier.transforms] == ["reverse_sigmoid", "noise"]
    expected = protect(victim, list(tier.transforms), key="mallory").predict_proba(X[:50])

    gateway = Gateway(
        [ServedModel("digits", victim, data.class_names)], policy=policy, store=Store(tmp_path / "g.db")
    )
    mallory = gateway.store.create_key("mallory", "defended")
    plain = gateway.store.create_key("plain")
    seen, _ = GatewayTransport(gateway, mallory, "digits").send(X[:50])
    assert seen.probabilities is not None and np.array_equal(seen.probabilities, expected)
    again, _ = GatewayTransport(gateway, mallory, "digits").send(X[:50])
    assert np.array_equal(again.probabilities, seen.probabilities)  # type: ignore[arg-type]
    honest, _ = GatewayTransport(gateway, plain, "digits").send(X[:50])
    assert np.array_equal(honest.probabilities, victim.predict_proba(X[:50]))  # type: ignore[arg-type]

    model_dir = save_model_dir(victim, data, tmp_path / "digits", seed=0)
    db = tmp_path / "http.db"
    with gateway_server([model_dir], db, policy=policy_file) as (url, _):
        key = create_key(db, "mallory", "defended")
        over_http, _ = HTTPTransport(url + "/v1/models/digits", key).send(X[:50])
    assert over_http.probabilities is not None
    assert np.allclose(over_http.probabilities, expected, rtol=0, atol=1e-15)


def test_a_policy_with_a_bad_transform_is_refused_at_load() -> None:
    from modelsteal.gateway import Policy

    with pytest.raises(InvalidInput, match="tier 'x': transforms: unknown transform 'blur'"):
        Policy.from_dict({"tiers": {"x": {"transforms": [{"blur": {}}]}}})
    with pytest.raises(InvalidInput, match="sigma must be a number >= 0"):
        Policy.from_dict({"tiers": {"x": {"transforms": [{"noise": {"sigma": -0.1}}]}}})
