"""Decision-tree path finding, the tree victim's incomplete queries and confidences,
and both through the gateway (in-process and over a real loopback socket)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.attacks.path_finding import roundest_between
from modelsteal.campaigns.experiment import eval_set_for
from modelsteal.datasets import load_csv
from modelsteal.datasets.examples import write_loans_csv
from modelsteal.errors import InvalidInput, UnsupportedOracle
from modelsteal.gateway.store import Store
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.oracle.http import HTTPTransport
from modelsteal.victims import TrainOptions, save_model_dir, train_victim
from modelsteal.victims.tree import TreeVictim, wilson_lower_bound
from tests.servers import gateway_server


def tree_oracle(victim: object, kind: str = "confidence", incomplete: bool = True, **kw: object) -> Oracle:
    mode = OutputMode(kind, **kw)  # type: ignore[arg-type]
    return Oracle(LocalTransport(victim, output_mode=mode, accepts_missing=incomplete))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def credit() -> tuple[TreeVictim, object]:
    """German Credit's size: 1,000 rows, 26 leaves, continuous and categorical features."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        data = load_csv(write_loans_csv(Path(tmp) / "credit.csv", n_rows=1000), "risk")
    victim = train_victim(data, "tree", seed=0, options=TrainOptions(max_leaf_nodes=26))
    assert isinstance(victim, TreeVictim)
    return victim, data


# ---------------------------------------------------------------------- the victim
def test_tree_victim_matches_sklearn_on_complete_rows(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "tree")
    assert isinstance(victim, TreeVictim)
    assert np.allclose(victim.predict_proba(data.X_test), victim.estimator.predict_proba(data.X_test))


def test_incomplete_queries_stop_at_the_node_testing_the_missing_feature(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "tree")
    tree = victim.estimator[-1].tree_
    x = data.X_test[:1].copy()
    assert victim.nodes(np.full_like(x, np.nan))[0] == 0  # nothing known: the root answers
    root_feature = tree.feature[0]
    x_missing_root = x.copy()
    x_missing_root[0, root_feature] = np.nan
    assert victim.nodes(x_missing_root)[0] == 0
    # Missing a feature no node on the path tests changes nothing.
    leaf = victim.nodes(x)[0]
    on_path = {
        tree.feature[n] for n in victim.estimator[-1].decision_path(victim.estimator[0].transform(x)).indices
    }
    unused = next(f for f in range(x.shape[1]) if f not in on_path)
    x_unused = x.copy()
    x_unused[0, unused] = np.nan
    assert victim.nodes(x_unused)[0] == leaf
    # Only the root's feature known: the walk stops at the root's child on x's side
    # (unless that child tests the same feature again).
    only_root = np.full_like(x, np.nan)
    only_root[0, root_feature] = x[0, root_feature]
    scaled = victim.estimator[0].transform(x)[0, root_feature]
    child = tree.children_left[0] if scaled <= tree.threshold[0] else tree.children_right[0]
    if tree.feature[child] != root_feature:
        assert victim.nodes(only_root)[0] == child
        assert np.allclose(
            victim.predict_proba(only_root)[0], tree.value[child, 0] / tree.value[child, 0].sum()
        )


def test_confidence_is_the_wilson_lower_bound(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "tree")
    proba, conf = victim.predict_proba_and_confidence(data.X_test[:20])
    tree = victim.estimator[-1].tree_
    nodes = victim.nodes(data.X_test[:20])
    n = tree.weighted_n_node_samples[nodes]
    expected = wilson_lower_bound(proba.max(axis=1), n)
    assert np.allclose(conf, expected)
    # Wilson, 95%: 8 of 10 gives about 0.490; 1 of 1 about 0.207.
    assert wilson_lower_bound(np.array([0.8]), np.array([10.0]))[0] == pytest.approx(0.4902, abs=1e-4)
    assert wilson_lower_bound(np.array([1.0]), np.array([1.0]))[0] == pytest.approx(0.2065, abs=1e-4)


def test_a_partly_missing_category_is_refused(credit: tuple) -> None:
    victim, data = credit
    x = data.X_test[:1].copy()
    group = data.feature_space.categorical[0]
    x[0, group.columns[0]] = np.nan
    with pytest.raises(InvalidInput, match="partly missing"):
        victim.predict_proba(x)


def test_an_api_without_incomplete_queries_refuses_nan(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "tree")
    oracle = tree_oracle(victim, incomplete=False)
    x = data.X_test[:1].copy()
    x[0, 3] = np.nan
    with pytest.raises(InvalidInput, match="incomplete"):
        oracle.query(x)
    assert oracle.queries == 0


# ---------------------------------------------------------------------- the attack
@pytest.mark.parametrize(
    ("kind", "variant", "incomplete", "tau"),
    [
        ("confidence", "top-down", True, 1.0),
        ("confidence", "bottom-up", True, 1.0),
        ("probabilities", "top-down", True, 0.999),
    ],
)
def test_digits_tree_is_stolen(
    victim_factory: Callable, kind: str, variant: str, incomplete: bool, tau: float
) -> None:
    victim, data = victim_factory("digits", "tree")
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    oracle = tree_oracle(victim, kind, incomplete)
    r = make_attack("path-finding", variant=variant, incomplete=incomplete).run(
        oracle, budget=20_000, random_state=0, eval_set=ev
    )
    assert r.comparison is not None
    assert r.comparison.fidelity_test >= tau and r.comparison.fidelity_uniform >= tau, r.comparison
    assert oracle.queries == r.queries
    assert r.notes["complete"] is True
    if kind == "confidence":
        assert r.notes["leaves"] == victim.n_leaves
    # Fewer queries per leaf than the paper's German Credit (44) with the top-down variant.
    if variant == "top-down":
        assert r.queries / victim.n_leaves < 44


def test_categorical_and_continuous_features(credit: tuple) -> None:
    victim, data = credit
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    r = make_attack("path-finding").run(tree_oracle(victim), budget=5_000, random_state=0, eval_set=ev)
    assert r.comparison is not None
    assert r.comparison.fidelity_test == 1.0 and r.comparison.fidelity_uniform == 1.0
    assert r.notes["leaves"] == victim.n_leaves == 26
    text = r.model.export_text({})
    assert "purpose in {" in text or "housing in {" in text  # categorical tests were found


def test_the_stolen_tree_predicts_like_its_leaves(credit: tuple) -> None:
    victim, data = credit
    r = make_attack("path-finding").run(tree_oracle(victim), budget=5_000, random_state=0)
    model = r.model
    assert np.array_equal(model.classes_, np.arange(2))
    P = model.predict_proba(data.X_test)
    assert P.shape == (data.X_test.shape[0], 2)
    assert np.array_equal(model.predict(data.X_test), P.argmax(axis=1))
    # Every extracted leaf answers, at a point inside its box, what the API answered there.
    for leaf in model.leaves_:
        x = np.zeros(data.n_features)
        for i, unit in enumerate(model.units_):
            if unit.categorical:
                x[unit.columns[min(leaf.box.allowed(i, unit))]] = 1.0
            else:
                x[unit.columns[0]] = (leaf.box.inside_low(i, unit) + leaf.box.inside_high(i, unit)) / 2
        assert np.array_equal(model.predict_proba(x[None])[0], leaf.proba)


def test_budget_exhaustion_returns_a_partial_tree(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "tree")
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=2_000, random_state=1)
    oracle = tree_oracle(victim)
    r = make_attack("path-finding").run(oracle, budget=800, random_state=0, eval_set=ev)
    assert r.queries <= 800 and oracle.queries == r.queries
    assert r.notes["complete"] is False
    assert 0 < r.notes["leaves"] < victim.n_leaves
    assert "budget ran out after" in r.notes["warning"]
    assert r.comparison is not None and 0.2 < r.comparison.fidelity_test < 1.0


def test_label_only_api_is_refused_with_the_attacks_that_work(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "tree")
    with pytest.raises(UnsupportedOracle, match=r"lowd-meek.*retrain-adaptive"):
        make_attack("path-finding").run(tree_oracle(victim, "label"), budget=1000)


def test_top_down_needs_incomplete_queries(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "tree")
    with pytest.raises(UnsupportedOracle, match="bottom-up"):
        make_attack("path-finding", variant="top-down", incomplete=False).run(
            tree_oracle(victim, incomplete=False), budget=1000
        )
    with pytest.raises(UnsupportedOracle, match="does not answer"):
        make_attack("path-finding", incomplete=True).run(tree_oracle(victim, incomplete=False), budget=1000)
    with pytest.raises(InvalidInput, match="variant"):
        make_attack("path-finding", variant="sideways")


def test_roundest_value_in_a_bracket() -> None:
    assert roundest_between(759.9995, 760.0004) == 760.0
    assert roundest_between(3.99626, 4.00132) == 4.0
    assert roundest_between(0.50731, 0.50739) == pytest.approx(0.50732)  # first of the fewest digits
    assert roundest_between(1.0, 1.0) is None


# ---------------------------------------------------------------------- through the gateway
@pytest.fixture(scope="module")
def tree_server(tmp_path_factory: pytest.TempPathFactory, victim_factory: Callable) -> Iterator[dict]:
    root = tmp_path_factory.mktemp("tree-gw")
    victim, data = victim_factory("wine", "tree")
    model_dir = save_model_dir(victim, data, root / "wine-tree", seed=0)
    policy = root / "policy.yaml"
    policy.write_text(
        """
tiers:
  default:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
    price_per_row: 0.001
    output: {kind: confidence}
  plain:
    key_limits: ["100000/hour"]
    ip_limits: ["1000000/hour"]
allow_missing: true
"""
    )
    strict = root / "strict.yaml"
    strict.write_text("tiers: {default: {output: {kind: confidence}}}\n")
    db = root / "gw.db"
    store = Store(db)
    keys = {"default": store.create_key("conf"), "plain": store.create_key("plain", "plain")}
    store.close()
    with gateway_server([model_dir], db, policy=policy) as (url, _):
        yield {"url": url, "keys": keys, "dir": model_dir, "victim": victim, "data": data, "strict": strict}


def test_null_features_and_confidences_over_http(tree_server: dict) -> None:
    url = tree_server["url"] + "/v1/models/wine-tree"
    headers = {"Authorization": f"Bearer {tree_server['keys']['default']}"}
    info = httpx.get(url, headers=headers).json()
    assert info["accepts_missing"] is True and info["output_mode"]["kind"] == "confidence"
    d = len(info["feature_space"]["names"])
    r = httpx.post(url + "/predict", json={"instances": [[None] * d]}, headers=headers)
    assert r.status_code == 200, r.text
    pred = r.json()["predictions"][0]
    victim = tree_server["victim"]
    proba, conf = victim.predict_proba_and_confidence(np.full((1, d), np.nan))
    assert pred["label_index"] == int(proba.argmax()) and pred["confidence"] == pytest.approx(conf[0])
    assert "probabilities" not in pred
    bad = httpx.post(url + "/predict", json={"instances": [["x"] * d]}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "not_numeric"


def test_null_features_are_refused_without_the_policy(tmp_path: Path, tree_server: dict) -> None:
    db = tmp_path / "strict.db"
    store = Store(db)
    key = store.create_key("c")
    store.close()
    with gateway_server([tree_server["dir"]], db, policy=tree_server["strict"]) as (url, _):
        d = tree_server["data"].n_features
        r = httpx.post(
            url + "/v1/models/wine-tree/predict",
            json={"instances": [[None] * d]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "missing_feature"
        assert httpx.get(url + "/v1/usage", headers={"Authorization": f"Bearer {key}"}).json()["rows"] == 0


def test_path_finding_over_http(tree_server: dict) -> None:
    from modelsteal.victims import load_model_dir

    ev = eval_set_for(load_model_dir(tree_server["dir"]))
    url = tree_server["url"] + "/v1/models/wine-tree"
    for tier in ("default", "plain"):
        transport = HTTPTransport(url, tree_server["keys"][tier])
        oracle = Oracle(transport)
        before = transport.usage()["rows"]
        r = make_attack("path-finding").run(oracle, budget=2_000, random_state=0, eval_set=ev)
        assert r.comparison is not None
        assert r.comparison.fidelity_test == 1.0 and r.comparison.fidelity_uniform == 1.0
        assert r.notes["variant"] == "top-down"
        usage = transport.usage()
        assert usage["rows"] - before == r.queries and r.cost == pytest.approx(r.queries * 0.001)
        transport.close()


def test_cli_path_finding(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from modelsteal.cli import main

    out = tmp_path / "tree"
    assert (
        main(["train", "--dataset", "wine", "--model", "tree", "--max-leaves", "20", "--out", str(out)]) == 0
    )
    capsys.readouterr()
    code = main(
        [
            "attack",
            str(out),
            "--attack",
            "path-finding",
            "--output-mode",
            "confidence",
            "--budget",
            "2000",
            "--json",
        ]
    )
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["fidelity_test"] == 1.0 and summary["complete"] is True and summary["leaves"] >= 2
    assert any(line.startswith("leaves found:") for line in lines)
    code = main(["attack", str(out), "--attack", "path-finding", "--output-mode", "label", "--budget", "100"])
    assert code == 2
    assert "lowd-meek" in capsys.readouterr().err
