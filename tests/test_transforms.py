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
    AdaptiveMisinformation,
    ApiWatermark,  # noqa: F401  (eval of a repr in the contract)
    LogitNoise,
    PredictionPoisoning,
    ReverseSigmoid,
    parse_transforms,
    protect,
    row_seeds,
)
from modelsteal.errors import InvalidInput
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle

#: parameters each transform is held to the contract with ("MISINFORMATION" stands for the
#: misinformation model's directory, trained once per session by the fixture below)
SETTINGS: dict[str, dict[str, object]] = {
    "noise": {"sigma": 0.5},
    "reverse_sigmoid": {"beta": 0.7, "gamma": 0.2},
    "mad": {"epsilon": 0.8},
    "adaptive_misinformation": {"tau": 0.9, "nu": 50.0, "model": "MISINFORMATION"},
    "dawn": {"secret": "contract-secret", "store": "WATERMARKS", "share": 0.05},
}
#: more settings held to the same contract
VARIANTS: list[tuple[str, dict[str, object]]] = [
    *SETTINGS.items(),
    ("mad", {"epsilon": 0.8, "argmax": True}),
    ("noise", {"sigma": 0.5, "kind": "laplace"}),
]


def test_every_registered_transform_is_in_the_table() -> None:
    assert set(SETTINGS) == set(TRANSFORMS)


@pytest.fixture(scope="module")
def digits(victim_factory: Callable) -> tuple:  # type: ignore[type-arg]
    victim, data = victim_factory("digits", "softmax")
    X = np.vstack([data.X_test[:200], data.feature_space.sample_uniform(200, random_state=3)])
    return victim, data, X


@pytest.fixture(scope="module")
def misinformation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelsteal.datasets import load_dataset
    from modelsteal.victims import TrainOptions, save_model_dir, train_victim

    data = load_dataset("digits")
    wrong = train_victim(data, "cnn", seed=1, options=TrainOptions(epochs=3, misinformation=True))
    return save_model_dir(wrong, data, tmp_path_factory.mktemp("misinformation") / "wrong", seed=1)


def make_transform(name: str, params: dict[str, object], misinformation: Path) -> object:
    stand_ins = {"MISINFORMATION": str(misinformation), "WATERMARKS": str(misinformation.parent / "wm.db")}
    kwargs = {k: stand_ins.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    return TRANSFORMS[name](**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "params"), VARIANTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VARIANTS)])
def test_transform_contract(
    name: str, params: dict[str, object], digits: tuple, misinformation_dir: Path
) -> None:  # type: ignore[type-arg]
    victim, _, X = digits
    transform = make_transform(name, params, misinformation_dir).bind(victim)  # type: ignore[attr-defined]
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
        ([{"blur": {"radius": 1}}], "unknown transform 'blur'"),
        ([{"mad": {"epsilon": 2.5}}], r"mad: epsilon must be a number in \[0, 2\]"),
        ([{"mad": {"epsilon": -0.1}}], r"mad: epsilon must be a number in \[0, 2\]"),
        ([{"mad": {"epsilon": 1, "argmax": "yes"}}], "mad: argmax must be true or false"),
        ([{"adaptive_misinformation": {"tau": 0.5}}], "needs its misinformation model; train one with"),
        ([{"adaptive_misinformation": {"tau": 1.5, "model": "x"}}], r"tau must be a number in \[0, 1\]"),
        ([{"adaptive_misinformation": {"tau": 0.5, "nu": 0, "model": "x"}}], "nu must be a number > 0"),
        (
            [{"adaptive_misinformation": {"tau": 0.5, "model": "/no/such/dir"}}],
            "model /no/such/dir: .*train one",
        ),
        ([{"dawn": {"secret": "short", "store": "w.db"}}], "secret must be a string of at least 8"),
        (
            [{"dawn": {"secret": "long-enough", "store": "w.db", "share": 0}}],
            r"share must be a number in \(0, 0.5\]",
        ),
        ([{"dawn": {"secret": "long-enough"}}], "dawn: .*store"),
        ([{"noise": 3}], "parameters must be a mapping"),
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
      - mad: {epsilon: 0.5, argmax: true, seed: 7}
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
    assert [t.name for t in tier.transforms] == ["reverse_sigmoid", "noise", "mad"]
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


def test_adaptive_misinformation_refuses_a_model_that_is_not_one(
    tmp_path: Path,
    misinformation_dir: Path,
    victim_factory: Callable,  # type: ignore[type-arg]
) -> None:
    from modelsteal.gateway import Policy
    from modelsteal.victims import save_model_dir

    honest, data = victim_factory("digits", "softmax")
    save_model_dir(honest, data, tmp_path / "honest", seed=0)
    (tmp_path / "policy.yaml").write_text(
        "tiers:\n  x:\n    transforms: [{adaptive_misinformation: {tau: 0.5, model: honest}}]\n"
    )
    with pytest.raises(InvalidInput, match="honest is not a misinformation model; train one with"):
        Policy.load(tmp_path / "policy.yaml")  # a relative model path is read beside the policy
    iris, _ = victim_factory("iris", "softmax")
    with pytest.raises(InvalidInput, match="the misinformation model has 10 classes, the served model 3"):
        AdaptiveMisinformation(tau=0.5, model=str(misinformation_dir)).bind(iris)


def test_mad_needs_its_model_and_turns_the_thiefs_gradient(digits: tuple) -> None:  # type: ignore[type-arg]
    from modelsteal.defenses.poisoning import LogLikelihoodGram, most_deviating, surrogate_for
    from modelsteal.errors import ModelStealError

    victim, _, X = digits
    with pytest.raises(ModelStealError, match="bind"):
        PredictionPoisoning(epsilon=1.0).apply(victim.predict_proba(X[:2]), X[:2], "k")
    gram = LogLikelihoodGram(surrogate_for(victim, 0))
    P = victim.predict_proba(X[:50])
    M = gram(X[:50])
    for eps in (0.2, 1.0):
        for i in range(50):
            y = P[i]
            z = most_deviating(y, M[i], eps, keep_top1=False)
            assert np.abs(z - y).sum() <= eps + 1e-9  # within the budget
            cos = (y @ M[i] @ z) / np.sqrt((y @ M[i] @ y) * (z @ M[i] @ z))
            # no point of the budget's reach along a simplex edge turns the gradient further
            for k in range(y.size):
                for a in np.linspace(0, 1, 11):
                    w = y + a * (np.eye(y.size)[k] - y)
                    if np.abs(w - y).sum() <= eps:
                        assert (y @ M[i] @ w) / np.sqrt((y @ M[i] @ y) * (w @ M[i] @ w)) >= cos - 1e-9


@pytest.mark.e2e
def test_train_writes_outlier_exposure_and_misinformation_models_a_policy_serves(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from modelsteal.cli import main
    from modelsteal.gateway import Gateway, Policy
    from modelsteal.gateway.transport import GatewayTransport

    victim_dir, wrong_dir = tmp_path / "victim", tmp_path / "wrong"
    base = ["train", "--dataset", "digits", "--model", "cnn", "--epochs", "3"]
    assert main([*base, "--outlier-exposure", "uniform", "--out", str(victim_dir)]) == 0
    assert main([*base, "--misinformation", "--seed", "1", "--out", str(wrong_dir)]) == 0
    card = json.loads((victim_dir / "card.json").read_text())
    assert card["details"]["outlier_exposure"] == {"pool": "uniform", "weight": 0.5}
    assert json.loads((wrong_dir / "card.json").read_text())["details"]["misinformation"] is True
    (tmp_path / "policy.yaml").write_text(
        "tiers:\n  default:\n    transforms: [{adaptive_misinformation: {tau: 0.9, model: wrong}}]\n"
    )
    gateway = Gateway.from_dirs(
        [victim_dir], policy=Policy.load(tmp_path / "policy.yaml"), db=tmp_path / "g.db"
    )
    key = gateway.store.create_key("alice")
    served = gateway.models["victim"]
    noise = served.victim.feature_space.sample_uniform(100, random_state=0)
    answers, _ = GatewayTransport(gateway, key, "victim").send(noise)
    wrong = gateway.transforms[("default", "victim")][0].misinformation  # type: ignore[attr-defined]
    # the victim is unsure on noise (Outlier Exposure), so those answers are the misinformation model's
    assert np.mean(served.victim.predict_proba(noise).max(axis=1) < 0.9) > 0.9
    assert np.mean(answers.labels == wrong.predict(noise)) > 0.9
    # the same over a real socket: the served process loads the misinformation model beside its policy
    from modelsteal.oracle.http import HTTPTransport
    from tests.servers import create_key, gateway_server

    db = tmp_path / "http.db"
    with gateway_server([victim_dir], db, policy=tmp_path / "policy.yaml") as (url, _):
        over_http, _ = HTTPTransport(url + "/v1/models/victim", create_key(db, "bob")).send(noise)
    assert over_http.probabilities is not None and answers.probabilities is not None
    assert np.allclose(over_http.probabilities, answers.probabilities, rtol=0, atol=1e-12)
    proc = subprocess.run(
        [sys.executable, "-m", "modelsteal", "train", "--dataset", "digits", "--model", "softmax",
         "--misinformation", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "modelsteal: error: --outlier-exposure, --misinformation, --dp-epsilon, --adversarial-training and "
        "--watermark go with --model cnn"
    ]


def test_a_thief_who_knows_beta_and_gamma_undoes_reverse_sigmoid(digits: tuple) -> None:  # type: ignore[type-arg]
    from modelsteal.attacks.defence_aware import InvertingTransport, _turning_point, invert_reverse_sigmoid

    victim, data, _ = digits
    X = data.X_test[:300]
    P = victim.predict_proba(X)
    for beta, gamma in ((0.3, 0.2), (0.7, 0.2), (0.7, 0.5)):
        Q = ReverseSigmoid(beta=beta, gamma=gamma).apply(P, X, "k")
        E = invert_reverse_sigmoid(Q, beta, gamma)
        # where only the top class lies past g's turning point the reading is unambiguous
        certain = P.max(axis=1) >= 1 - _turning_point(beta, gamma)
        assert certain.mean() > 0.5
        assert np.allclose(E[certain], P[certain], rtol=1e-6, atol=1e-9)
        assert 0.5 * np.abs(Q - P).sum(axis=1).mean() > 0.1  # the defence did move the answers
    spec = {"reverse_sigmoid": {"beta": 0.7, "gamma": 0.2}}
    aware = InvertingTransport(LocalTransport(protect(victim, [spec])), spec)
    answers, _ = aware.send(X)
    assert answers.probabilities is not None
    assert np.array_equal(answers.labels, P.argmax(axis=1))
    with pytest.raises(InvalidInput, match="can invert reverse_sigmoid, not"):
        InvertingTransport(aware, {"noise": {"sigma": 1.0}})


@pytest.mark.e2e
def test_defend_eval_plays_a_tier_against_thieves_and_refuses_bad_input(
    tmp_path: Path,
    victim_factory: Callable,  # type: ignore[type-arg]
) -> None:
    import json
    import subprocess
    import sys

    from modelsteal.datasets import load_dataset
    from modelsteal.datasets.thief import split_for_theft
    from modelsteal.victims import save_model_dir, train_victim

    data = load_dataset("iris")
    owner, pool = split_for_theft(data, random_state=0)
    victim = train_victim(owner, "softmax", seed=0)
    model_dir = save_model_dir(victim, owner, tmp_path / "iris", seed=0, pool=(pool.X, pool.y, "held out"))
    (tmp_path / "policy.yaml").write_text(
        "tiers:\n  rs:\n    transforms: [{reverse_sigmoid: {beta: 0.7, gamma: 0.2}}]\n"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelsteal", "defend-eval", *args],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    proc = cli(str(model_dir), "--policy", str(tmp_path / "policy.yaml"), "--tier", "rs", "--aware",
               "--attack", "equation-solving", "--attack", "knockoff", "--attack", "copycat",
               "--budget", "30", "--budget", "60", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tier"] == "rs" and out["honest"]["labels_kept"] == 1.0 and out["honest"]["tv"] > 0.1
    thieves = {(t["attack"], t["budget"], t["thief"]) for t in out["thieves"]}
    # every attack at every budget; the inverting thief only where there are probabilities to invert
    assert thieves == {
        (a, b, t) for a in ("equation-solving", "knockoff") for b in (30, 60) for t in ("naive", "inverting")
    } | {("copycat", b, "naive") for b in (30, 60)}
    eq = next(t for t in out["thieves"] if t["attack"] == "equation-solving" and t["thief"] == "naive")
    assert eq["fidelity_plain"] == 1.0 and eq["queries"] == 5  # d+1 on iris
    assert all(t["queries"] == t["budget"] for t in out["thieves"] if t["attack"] != "equation-solving")
    for args, message in [
        (("--tier", "nope"), "unknown tier 'nope'"),
        (
            ("--tier", "rs", "--attack", "equation-solving", "--pool", "uniform"),
            "--pool goes with a learning attack",
        ),
    ]:
        proc = cli(str(model_dir), "--policy", str(tmp_path / "policy.yaml"), *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


def test_a_defended_tree_still_answers_incomplete_queries(victim_factory: Callable) -> None:  # type: ignore[type-arg]
    tree, data = victim_factory("digits", "tree")
    defended = protect(tree, [])
    assert defended.supports_missing is True
    assert LocalTransport(defended).describe().accepts_missing
    X = data.X_test[:3].copy()
    X[:, 5] = np.nan
    assert np.array_equal(defended.predict_proba(X), tree.predict_proba(X))
