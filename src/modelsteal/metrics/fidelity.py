"""How faithful a stolen model is: accuracy, fidelity on test and uniform inputs, TV distance.

Tramèr et al. 2016 measure R_test and R_unif, the share of test and of uniform points on
which the stolen model and the victim disagree; we report fidelity = 1 - R.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from modelsteal.feature_space import FeatureSpace
from modelsteal.random import RandomState, check_random_state

DEFAULT_N_UNIFORM = 10_000


class ProbabilisticClassifier(Protocol):
    classes_: NDArray[Any]

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class EvalSet:
    """Points to judge a stolen model on, with the victim's answers computed once.

    The victim's answers here are the evaluator's and cost the attacker nothing.
    """

    X_test: NDArray[np.float64]
    y_test: NDArray[np.int64] | None
    victim_test: NDArray[np.float64]
    X_uniform: NDArray[np.float64]
    victim_uniform: NDArray[np.float64]

    @classmethod
    def build(
        cls,
        victim: ProbabilisticClassifier,
        X_test: NDArray[np.float64],
        y_test: NDArray[np.int64] | None,
        feature_space: FeatureSpace,
        *,
        n_uniform: int = DEFAULT_N_UNIFORM,
        random_state: RandomState = 0,
    ) -> EvalSet:
        X_uniform = feature_space.sample_uniform(n_uniform, check_random_state(random_state))
        return cls(
            X_test=X_test,
            y_test=y_test,
            victim_test=victim.predict_proba(X_test),
            X_uniform=X_uniform,
            victim_uniform=victim.predict_proba(X_uniform) if n_uniform else np.zeros((0, 0)),
        )


@dataclass(frozen=True)
class Comparison:
    """Fidelity of a stolen model to its victim (and accuracy when true labels are known)."""

    fidelity_test: float
    fidelity_uniform: float
    tv_test: float
    tv_uniform: float
    tv_test_max: float
    accuracy_victim: float | None
    accuracy_stolen: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _labels(proba: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.argmax(proba, axis=1)


def tv_distance(p: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per-row total-variation distance between probability vectors: half the L1 distance."""
    return np.asarray(0.5 * np.abs(p - q).sum(axis=1))


def agreement(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    """Share of rows whose top-1 classes agree."""
    if p.shape[0] == 0:
        return float("nan")
    return float(np.mean(_labels(p) == _labels(q)))


def aligned_proba(
    model: ProbabilisticClassifier, X: NDArray[np.float64], n_classes: int
) -> NDArray[np.float64]:
    """``model``'s probabilities with one column per victim class index 0..n_classes-1.

    A stolen model that never saw some class has fewer columns; they are zero here.
    """
    proba = np.asarray(model.predict_proba(X), dtype=np.float64)
    classes = np.asarray(model.classes_)
    if proba.shape[1] == n_classes and np.array_equal(classes, np.arange(n_classes)):
        return proba
    out = np.zeros((X.shape[0], n_classes))
    out[:, classes.astype(np.int64)] = proba
    return out


def compare(stolen: ProbabilisticClassifier, eval_set: EvalSet) -> Comparison:
    """Fidelity and TV distance of ``stolen`` against the victim's answers in ``eval_set``."""
    n_classes = eval_set.victim_test.shape[1]
    s_test = aligned_proba(stolen, eval_set.X_test, n_classes)
    tv_test = tv_distance(s_test, eval_set.victim_test)
    if eval_set.X_uniform.shape[0]:
        s_unif = aligned_proba(stolen, eval_set.X_uniform, n_classes)
        fid_unif = agreement(s_unif, eval_set.victim_uniform)
        tv_unif = float(tv_distance(s_unif, eval_set.victim_uniform).mean())
    else:
        fid_unif, tv_unif = float("nan"), float("nan")
    acc_v = acc_s = None
    if eval_set.y_test is not None:
        acc_v = float(np.mean(_labels(eval_set.victim_test) == eval_set.y_test))
        acc_s = float(np.mean(_labels(s_test) == eval_set.y_test))
    return Comparison(
        fidelity_test=agreement(s_test, eval_set.victim_test),
        fidelity_uniform=fid_unif,
        tv_test=float(tv_test.mean()),
        tv_uniform=tv_unif,
        tv_test_max=float(tv_test.max()) if tv_test.size else float("nan"),
        accuracy_victim=acc_v,
        accuracy_stolen=acc_s,
    )
