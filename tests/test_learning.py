"""Learning-based attacks: thief data, the stolen network, budgets, transferability, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from modelsteal.attacks import make_attack
from modelsteal.attacks.learning import ActiveLearning, JacobianAugmentation, KnockoffNets, answer_targets
from modelsteal.cli import main
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import make_pool, patches_pool, resized_pool, seed_set, split_for_theft
from modelsteal.errors import InvalidInput
from modelsteal.gateway import Gateway, Policy, ServedModel, Store, Tier
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.metrics import EvalSet
from modelsteal.metrics.transferability import craft, transfer_rate
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.oracle.answers import apply_output_mode
from modelsteal.stolen.net import StolenNet


def test_split_for_theft_is_disjoint_and_fixed() -> None:
    data = load_dataset("digits")
    owner, pool = split_for_theft(data, victim_rows=700, random_state=0)
    assert owner.X_train.shape[0] == 700 and len(pool) == data.X_train.shape[0] - 700
    rows = {r.tobytes() for r in owner.X_train}
    assert not any(r.tobytes() in rows for r in pool.X)
    again = split_for_theft(data, victim_rows=700, random_state=0)[1]
    assert np.array_equal(again.X, pool.X)
    with pytest.raises(InvalidInput):
        split_for_theft(data, victim_rows=0)


def test_other_distributions_land_in_the_victims_box() -> None:
    mnist, digits = load_dataset("mnist5k"), load_dataset("digits")
    into_mnist = resized_pool("digits", mnist.feature_space)
    assert into_mnist.X.shape == (1797, 784)
    assert into_mnist.X.min() >= 0 and into_mnist.X.max() <= 255 and into_mnist.X.max() > 200
    # MNIST's frame: the 4-pixel border stays empty
    assert np.all(into_mnist.X.reshape(-1, 28, 28)[:, :4, :] == 0)
    into_digits = resized_pool("mnist5k", digits.feature_space, limit=100)
    assert into_digits.X.shape == (100, 64) and into_digits.X.max() <= 16
    patches = patches_pool(digits.feature_space, 50, random_state=3)
    assert patches.X.shape == (50, 64) and bool(np.all(digits.feature_space.contains(patches.X)))
    assert np.array_equal(patches.X, patches_pool(digits.feature_space, 50, random_state=3).X)
    seeds = seed_set(make_pool("in-distribution", digits), 5)
    assert seeds.y is not None and np.array_equal(np.bincount(seeds.y), np.full(10, 5))
    with pytest.raises(InvalidInput, match="image"):
        patches_pool(load_dataset("iris").feature_space, 5)


def test_answer_targets_from_every_output_mode() -> None:
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    assert np.allclose(answer_targets(apply_output_mode(proba, OutputMode("probabilities")), 3), proba)
    top1 = answer_targets(apply_output_mode(proba, OutputMode("top_k", k=1)), 3)
    assert np.allclose(top1, [[0.6, 0.2, 0.2], [0.2, 0.2, 0.6]])
    labels = answer_targets(apply_output_mode(proba, OutputMode("label")), 3)
    assert np.array_equal(labels, [[1, 0, 0], [0, 0, 1]])
    assert np.array_equal(
        answer_targets(apply_output_mode(proba, OutputMode("probabilities")), 3, hard=True), labels
    )


def test_stolen_net_follows_the_sklearn_contract() -> None:
    data = load_dataset("digits")
    model = StolenNet(data.feature_space, epochs=5, min_steps=50, random_state=0)
    assert model.fit(data.X_train[:300], data.y_train[:300]) is model
    assert np.array_equal(model.classes_, np.arange(10))
    P = model.predict_proba(data.X_test)
    assert P.shape == (data.X_test.shape[0], 10) and np.allclose(P.sum(axis=1), 1.0)
    assert np.array_equal(model.predict(data.X_test), P.argmax(axis=1))
    twin = clone(model).fit(data.X_train[:300], data.y_train[:300])
    assert np.allclose(twin.predict_proba(data.X_test), P)  # reproducible from its seed
    soft = (
        clone(model)
        .set_params(classes=np.arange(10), epochs=30, min_steps=200)
        .fit(data.X_train[:300], np.eye(10)[data.y_train[:300]])
    )
    assert soft.score(data.X_test, data.y_test) > 0.8
    tabular = load_dataset("wine")
    mlp = StolenNet(tabular.feature_space, epochs=50, random_state=0).fit(tabular.X_train, tabular.y_train)
    assert mlp.score(tabular.X_test, tabular.y_test) > 0.85
    with pytest.raises(InvalidInput):
        StolenNet(architecture="cnn").fit(tabular.X_train, tabular.y_train)


def test_budget_past_the_pool_sends_counted_perturbed_copies(theft_factory: Callable) -> None:
    victim, data, pool = theft_factory("digits")
    small = pool.X[:100]
    oracle = Oracle(LocalTransport(victim))
    result = make_attack("knockoff", pool=small).run(oracle, budget=150, random_state=0)
    assert result.queries == 150 == oracle.queries
    assert result.notes["synthetic_rows"] == 50
    assert np.all(data.feature_space.contains(np.vstack([small, small])))


@pytest.mark.e2e
def test_learning_attacks_are_reproducible_and_record_history(theft_factory: Callable) -> None:
    victim, data, pool = theft_factory("digits")
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=0)
    runs = [
        ActiveLearning(pool=pool, strategy="mix", checkpoints=(100, 200)).run(
            Oracle(LocalTransport(victim)), budget=300, random_state=4, eval_set=ev
        )
        for _ in range(2)
    ]
    assert [p.queries for p in runs[0].history] == [100, 200, 300]
    assert [p.fidelity_test for p in runs[0].history] == [p.fidelity_test for p in runs[1].history]
    fidelities = [p.fidelity_test for p in runs[0].history]
    assert fidelities == sorted(fidelities) and fidelities[-1] >= 0.92  # each round's rows help
    seconds = [p.seconds for p in runs[0].history]
    assert seconds == sorted(seconds) and len(set(seconds)) == 3
    X = data.X_test[:50]
    assert np.allclose(runs[0].model.predict_proba(X), runs[1].model.predict_proba(X))


def test_jacobian_rounds_double_then_take_kappa(theft_factory: Callable) -> None:
    victim, _, pool = theft_factory("digits")
    oracle = Oracle(LocalTransport(victim, output_mode=OutputMode("label")))
    result = JacobianAugmentation(pool=pool, seed_size=20, sigma=2, kappa=30).run(
        oracle, budget=170, random_state=0
    )
    # 20 seed, then 20 and 40 (doubling for sigma=2 rounds), then 30 per round: 110, 140, 170
    assert result.queries == 170 and result.notes["rounds"] == 6
    assert result.notes["targets"] == "labels"


def test_adaptive_knockoff_learns_a_policy_and_needs_labels_for_label_actions(
    theft_factory: Callable,
) -> None:
    victim, _, pool = theft_factory("digits")
    result = KnockoffNets(pool=pool, policy="adaptive").run(
        Oracle(LocalTransport(victim)), budget=200, random_state=0
    )
    assert result.queries == 200 and result.notes["actions"] == 20
    assert 0 < result.notes["policy_entropy"] <= np.log(20)
    with pytest.raises(InvalidInput, match="labels"):
        KnockoffNets(pool=pool.X, policy="adaptive", actions="labels").run(
            Oracle(LocalTransport(victim)), budget=50, random_state=0
        )
    with pytest.raises(InvalidInput):
        KnockoffNets(policy="greedy")


def test_transferability_of_a_stolen_copy(theft_factory: Callable) -> None:
    victim, data, pool = theft_factory("digits")
    stolen = (
        make_attack("knockoff", pool=pool)
        .run(Oracle(LocalTransport(victim)), budget=400, random_state=0)
        .model
    )
    X, y = data.X_test[:200], data.y_test[:200]
    adv = craft(stolen, X, y, data.feature_space, method="pgd", epsilon=0.1)
    assert np.all(np.abs(adv - X) <= 0.1 * 16 + 1e-4) and np.all(data.feature_space.contains(adv))
    fgsm = transfer_rate(victim, stolen, X, y, data.feature_space, method="fgsm", epsilon=0.2)
    pgd = transfer_rate(victim, stolen, X, y, data.feature_space, method="pgd", epsilon=0.2)
    assert fgsm.rows > 150
    assert pgd.source_success > 0.9  # white-box PGD on the copy itself
    assert pgd.victim_success > 0.3 and fgsm.victim_success > 0.3  # and it carries over to the victim
    with pytest.raises(InvalidInput):
        craft(stolen, X, y, data.feature_space, method="cw")


def test_learning_attack_through_the_gateway(theft_factory: Callable, tmp_path: Path) -> None:
    victim, data, pool = theft_factory("digits")
    policy = Policy(tiers={"default": Tier("default", output=OutputMode("label"), price_per_row=0.002)})
    gateway = Gateway(
        [ServedModel("digits-cnn", victim, data.class_names)], policy=policy, store=Store(tmp_path / "gw.db")
    )
    key = gateway.store.create_key("thief")
    oracle = Oracle(GatewayTransport(gateway, key, "digits-cnn"))
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=0)
    result = make_attack("copycat", pool=pool).run(oracle, budget=300, random_state=0, eval_set=ev)
    assert result.queries == 300 and result.cost == pytest.approx(0.6)
    assert result.comparison is not None and result.comparison.fidelity_test > 0.9
    assert gateway.store.client("thief").rows == 300
    assert sum(row["rows"] for row in gateway.store.log(10_000) if row["status"] == 200) == 300


@pytest.mark.e2e
def test_cli_trains_a_held_out_victim_and_steals_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits-cnn"
    assert (
        main(["train", "--dataset", "digits", "--model", "cnn", "--victim-rows", "700", "--out", str(out)])
        == 0
    )
    card = json.loads((out / "card.json").read_text())
    assert card["details"]["victim_rows"] == 700 and card["n_train"] == 700
    capsys.readouterr()
    code = main(
        [
            "attack",
            str(out),
            "--attack",
            "active",
            "--strategy",
            "kcenter",
            "--budget",
            "300",
            "--output-mode",
            "label",
            "--n-uniform",
            "100",
            "--json",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["queries"] == 300 and summary["fidelity_test"] > 0.88 and summary["targets"] == "labels"
    assert main(["attack", str(out), "--attack", "knockoff", "--strategy", "mix", "--budget", "10"]) == 2
    assert main(["attack", str(out), "--attack", "lowd-meek", "--pool", "patches", "--budget", "10"]) == 2


@pytest.mark.e2e
def test_learning_attack_over_http_is_flagged(tmp_path: Path, theft_factory: Callable) -> None:
    """Knockoff over a real loopback socket, against a gateway whose detectors watch it."""
    import httpx

    from modelsteal.campaigns.experiment import steal_url
    from modelsteal.gateway import Store
    from modelsteal.victims import save_model_dir

    from .servers import gateway_server

    victim, data, pool = theft_factory("digits")
    model_dir = save_model_dir(victim, data, tmp_path / "digits-cnn", seed=0)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "tiers:\n  default:\n    key_limits: ['100000/hour']\n    ip_limits: ['100000/hour']\n"
        "store_inputs: true\ndetection: {}\n"
    )
    db = tmp_path / "gw.db"
    store = Store(db)
    key = store.create_key("thief")
    store.close()
    with gateway_server([model_dir], db, policy=policy) as (url, _):
        result, name, family = steal_url(
            f"{url}/v1/models/digits-cnn",
            key,
            "knockoff",
            budget=300,
            options={"pool": pool},
            eval_dir=model_dir,
        )
        flagged = httpx.get(
            url + "/v1/admin/flagged", headers={"Authorization": "Bearer admin-secret"}
        ).json()
    assert (name, family) == ("digits-cnn", "cnn") and result.queries == 300
    assert result.comparison is not None and result.comparison.fidelity_test > 0.9
    (client,) = flagged["clients"]
    assert client["name"] == "thief" and client["rows"] == 300
    assert {a["detector"] for a in client["alarms"]} == {"unique_share"}


@pytest.mark.e2e
def test_semi_supervised_victim_is_stolen_too(theft_factory: Callable) -> None:
    """A victim its owner trained on 10% of the labels plus its own pseudo-labels."""
    from modelsteal.victims.training import test_accuracy, train_victim

    _, data, pool = theft_factory("digits")
    owner, _ = split_for_theft(data, random_state=0)
    victim = train_victim(owner, "cnn-semi", seed=0)
    assert (
        victim.details["labelled_rows"] == 60
        and victim.details["unlabelled_rows"] == owner.X_train.shape[0] - 60
    )
    assert test_accuracy(victim, data) > 0.8  # 60 labels, 6 per class
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=0)
    result = make_attack("knockoff", pool=pool).run(
        Oracle(LocalTransport(victim)), budget=400, random_state=0, eval_set=ev
    )
    assert result.comparison is not None and result.comparison.fidelity_test > 0.88
