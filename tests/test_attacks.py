from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from modelsteal.attacks import ExtractionAttack, make_attack
from modelsteal.errors import AttackFailed, InvalidInput, UnsupportedOracle
from modelsteal.metrics import EvalSet, linear_parameters, max_relative_parameter_error
from modelsteal.oracle import LocalTransport, Oracle, OutputMode


def test_softmax_recovers_parameters_not_just_labels(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "softmax")
    result = make_attack("eq-softmax").run(Oracle(LocalTransport(victim)), budget=65, random_state=3)
    err = max_relative_parameter_error(linear_parameters(victim.estimator), linear_parameters(result.model))
    assert err < 1e-6


def test_categorical_parameters_are_recovered_in_canonical_form(victim_factory: Callable) -> None:
    victim, data = victim_factory("loans", "softmax")
    result = make_attack("eq-softmax").run(Oracle(LocalTransport(victim)), budget=12, random_state=0)
    err = max_relative_parameter_error(
        linear_parameters(victim.estimator), linear_parameters(result.model), data.feature_space
    )
    assert err < 1e-6


def test_ovr_recovers_parameters(victim_factory: Callable) -> None:
    victim, _ = victim_factory("iris", "ovr")
    result = make_attack("eq-ovr").run(Oracle(LocalTransport(victim)), budget=8, random_state=0)
    err = max_relative_parameter_error(linear_parameters(victim.estimator), linear_parameters(result.model))
    assert err < 1e-6


@pytest.mark.parametrize(("attack", "budget", "minimum"), [("eq-softmax", 64, 65), ("eq-ovr", 72, 73)])
def test_a_budget_below_the_minimum_names_the_minimum(
    victim_factory: Callable, attack: str, budget: int, minimum: int
) -> None:
    victim, _ = victim_factory("digits", "softmax" if attack == "eq-softmax" else "ovr")
    oracle = Oracle(LocalTransport(victim))
    with pytest.raises(InvalidInput, match=f"at least {minimum} queries"):
        make_attack(attack).run(oracle, budget=budget)
    assert oracle.queries == 0


@pytest.mark.parametrize("mode", [OutputMode("label"), OutputMode("top_k", k=3)])
def test_probability_attacks_refuse_an_oracle_without_probabilities(
    victim_factory: Callable, mode: OutputMode
) -> None:
    victim, _ = victim_factory("digits", "softmax")
    oracle = Oracle(LocalTransport(victim, output_mode=mode))
    with pytest.raises(UnsupportedOracle, match="probabilities"):
        make_attack("equation-solving").run(oracle, budget=100)
    assert oracle.queries == 0


@pytest.mark.parametrize("budget", [65.0, "65", True, None])
def test_budget_must_be_a_whole_number(victim_factory: Callable, budget: object) -> None:
    victim, _ = victim_factory("digits", "softmax")
    with pytest.raises(InvalidInput, match="whole number"):
        make_attack("eq-softmax").run(Oracle(LocalTransport(victim)), budget=budget)  # type: ignore[arg-type]


def test_family_must_be_known(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "tree")
    with pytest.raises(InvalidInput, match="cannot steal a 'tree' model"):
        make_attack("equation-solving").run(Oracle(LocalTransport(victim)), budget=100)
    hidden = LocalTransport(victim, publish_family=False)
    with pytest.raises(InvalidInput, match="--family"):
        make_attack("equation-solving").run(Oracle(hidden), budget=100)
    with pytest.raises(InvalidInput, match="unknown attack"):
        make_attack("knockoff-nets-v9")


def test_an_unpublished_family_can_be_given(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "softmax")
    oracle = Oracle(LocalTransport(victim, publish_family=False))
    result = make_attack("equation-solving", family="softmax").run(oracle, budget=65, random_state=0)
    assert result.notes["method"] == "eq-softmax" and result.queries == 65


def test_rounded_answers_need_more_queries_and_weighting(victim_factory: Callable) -> None:
    """4 decimals: d+1 queries are no longer exact; the default 10(d+1) weighted fit is."""
    victim, data = victim_factory("digits", "softmax")
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    mode = OutputMode(decimals=4)
    square = make_attack("eq-softmax").run(
        Oracle(LocalTransport(victim, output_mode=mode)), budget=65, eval_set=ev
    )
    default = make_attack("eq-softmax").run(
        Oracle(LocalTransport(victim, output_mode=mode)), budget=1000, random_state=0, eval_set=ev
    )
    assert square.comparison is not None and default.comparison is not None
    assert square.comparison.fidelity_uniform < 0.99
    assert default.queries == 650  # rounding published: 10(d+1) by default
    assert default.comparison.fidelity_test == 1.0 and default.comparison.fidelity_uniform >= 0.999


def test_runs_are_reproducible_from_the_seed(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "mlp")
    a = make_attack("eq-mlp").run(Oracle(LocalTransport(victim)), budget=4000, random_state=11)
    b = make_attack("eq-mlp").run(Oracle(LocalTransport(victim)), budget=4000, random_state=11)
    assert a.queries == b.queries
    assert np.array_equal(a.model.predict_proba(data.X_test), b.model.predict_proba(data.X_test))


def test_an_mlp_attack_stops_at_the_budget(victim_factory: Callable) -> None:
    victim, _ = victim_factory("digits", "mlp")
    oracle = Oracle(LocalTransport(victim))
    result = make_attack("eq-mlp").run(oracle, budget=400, random_state=0)
    assert result.queries <= 400 and oracle.queries == result.queries
    assert result.notes["units_found"] < 20


def test_underflowing_answers_are_reported(victim_factory: Callable) -> None:
    """A victim whose probabilities underflow to exactly 0 everywhere cannot be solved."""
    from modelsteal.victims import SklearnVictim

    victim, _ = victim_factory("digits", "softmax")

    class Saturated:
        classes_ = victim.classes_
        feature_space = victim.feature_space

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            P = np.zeros((X.shape[0], 10))
            P[:, 0] = 1.0
            return P

    sat = SklearnVictim(Saturated(), victim.feature_space, family="softmax")
    with pytest.raises(AttackFailed, match="underflowed"):
        make_attack("eq-softmax").run(Oracle(LocalTransport(sat)), budget=100)


def test_subclasses_write_only_the_algorithm() -> None:
    assert "run" not in vars(type(make_attack("eq-ovr")))
    assert getattr(ExtractionAttack.run, "__final__", False)
