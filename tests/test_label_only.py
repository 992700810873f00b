from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.errors import AttackFailed, InvalidInput
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.victims import SklearnVictim


def label_oracle(victim: object) -> Oracle:
    return Oracle(LocalTransport(victim, output_mode=OutputMode("label")))  # type: ignore[arg-type]


def test_lowd_meek_recovers_the_direction_of_the_weights(victim_factory: Callable) -> None:
    from modelsteal.metrics import linear_parameters

    victim, _ = victim_factory("breast_cancer", "logreg")
    result = make_attack("lowd-meek").run(label_oracle(victim), budget=34 * 31, random_state=0)
    true = linear_parameters(victim.estimator)
    w_true = np.append(true.coef[0], true.intercept[0])
    stolen = result.model
    w_stolen = np.append(stolen.coef_[0], stolen.intercept_[0])
    cosine = float(w_true @ w_stolen / np.linalg.norm(w_true) / np.linalg.norm(w_stolen))
    assert cosine > 0.9999  # labels fix the hyperplane, not the steepness
    assert result.notes["weights_found"] == 30


def test_lowd_meek_is_for_binary_models(victim_factory: Callable) -> None:
    victim, _ = victim_factory("iris", "ovr")
    with pytest.raises(InvalidInput, match="binary"):
        make_attack("lowd-meek").run(label_oracle(victim), budget=5000)


class OneClass:
    """A victim that answers class 0 everywhere."""

    def __init__(self, victim: SklearnVictim) -> None:
        self.classes_ = victim.classes_
        self.feature_space = victim.feature_space

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        P = np.zeros((X.shape[0], 2))
        P[:, 0] = 1.0
        return P


def test_a_victim_with_one_class_everywhere(victim_factory: Callable) -> None:
    victim, data = victim_factory("breast_cancer", "logreg")
    constant = SklearnVictim(OneClass(victim), victim.feature_space, family="logreg")
    with pytest.raises(AttackFailed, match="one class almost everywhere"):
        make_attack("lowd-meek").run(label_oracle(constant), budget=2000, random_state=0)
    result = make_attack("retrain-uniform").run(label_oracle(constant), budget=50, random_state=0)
    assert result.notes["classes_seen"] == 1
    assert np.all(result.model.predict(data.X_test) == 0)


def test_adaptive_retraining_records_its_history(victim_factory: Callable) -> None:
    from modelsteal.metrics import EvalSet

    victim, data = victim_factory("moons", "logreg")
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=1000)
    result = make_attack("retrain-adaptive", rounds=4).run(
        label_oracle(victim), budget=100, random_state=0, eval_set=ev
    )
    queries = [h.queries for h in result.history]
    assert queries == sorted(queries) and queries[-1] == 100 and len(queries) == 5


def test_label_attacks_work_through_a_probability_api_too(victim_factory: Callable) -> None:
    victim, data = victim_factory("moons", "logreg")
    given_probabilities = make_attack("retrain-linesearch").run(
        Oracle(LocalTransport(victim)), budget=60, random_state=0
    )
    given_labels = make_attack("retrain-linesearch").run(label_oracle(victim), budget=60, random_state=0)
    # it reads only the labels, so it asks the same queries and steals the same copy either way
    assert given_probabilities.queries == given_labels.queries == 52
    X = data.X_test
    assert np.array_equal(given_probabilities.model.predict(X), given_labels.model.predict(X))
    assert np.mean(given_probabilities.model.predict(X) == victim.predict(X)) == 1.0
