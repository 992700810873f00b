from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from modelsteal.metrics import (
    EvalSet,
    agreement,
    compare,
    linear_parameters,
    max_relative_parameter_error,
    tv_distance,
)
from modelsteal.metrics.parameters import LinearParameters
from modelsteal.stolen import StolenLinearModel


def test_agreement_and_tv() -> None:
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    q = np.array([[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.5, 0.5]])
    assert agreement(p, q) == 0.75
    assert np.allclose(tv_distance(p, q), [0.1, 0.1, 0.2, 0.0])


def test_compare_counts_disagreements(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "softmax")
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=500, random_state=0)
    params = linear_parameters(victim.estimator)
    same = StolenLinearModel().set_parameters(params.coef, params.intercept, victim.classes_)
    c = compare(same, ev)
    assert c.fidelity_test == 1.0 and c.fidelity_uniform == 1.0 and c.tv_test < 1e-12
    assert c.accuracy_stolen == c.accuracy_victim
    # swap two classes' weights: exactly the rows the victim puts in those classes now disagree
    W = params.coef.copy()
    W[[0, 1]] = W[[1, 0]]
    b = params.intercept.copy()
    b[[0, 1]] = b[[1, 0]]
    swapped = StolenLinearModel().set_parameters(W, b, victim.classes_)
    expected = 1.0 - np.isin(victim.predict(data.X_test), [0, 1]).mean()
    assert compare(swapped, ev).fidelity_test == pytest.approx(expected)


def test_parameter_error_is_blind_to_shifts_that_change_nothing() -> None:
    from modelsteal.feature_space import CategoricalGroup, FeatureSpace

    space = FeatureSpace(
        ("a", "g=x", "g=y"), np.zeros(3), np.ones(3), (CategoricalGroup("g", ("x", "y"), (1, 2)),)
    )
    W = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [0.0, 0.0, 1.0]])
    b = np.array([0.1, 0.2, 0.3])
    victim = LinearParameters("multinomial", W, b)
    # a shift shared by all classes, and a shift inside the one-hot group moved to the bias
    W2 = W + np.array([0.7, -0.2, 0.4])
    W2[:, 1:] += 5.0
    b2 = b + 0.9 - 5.0
    assert max_relative_parameter_error(victim, LinearParameters("multinomial", W2, b2), space) < 1e-12
    W2[0, 0] += 0.01
    assert max_relative_parameter_error(victim, LinearParameters("multinomial", W2, b2), space) > 1e-3
