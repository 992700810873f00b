"""Stealing the regularisation strength of a linear model (Wang & Gong, IEEE S&P 2018).

Wang, Gong. "Stealing Hyperparameters in Machine Learning". A model is learnt by
minimising ``L(w) = loss(w; X, y) + λ R(w)``; at the learnt parameters the gradient
vanishes, ``∇loss(w) + λ ∇R(w) = 0``, which is linear in λ. With the parameters (stolen
by equation solving) and the training data (the paper's threat model: the attacker knows
the data and the learning algorithm), λ follows by least squares over the d equations.

For scikit-learn's L2 logistic regression (binary, multinomial, and each one-vs-rest
class) the objective is ``C Σ_i loss_i + ½‖w‖²`` with an unpenalised intercept, so
``w + C·G = 0`` with ``G = Σ_i (p_i − y_i) x_i``; we report ``C`` and ``λ = 1/C``. The
gradient is taken where the learner works: modelsteal's victims scale the published box
onto [-1, 1] before the model (:func:`bounds_scaler`), and the stolen raw-space weights are
mapped there first.

**Departures from the paper.**

* Equation solving recovers one-hot weights only up to a shift per group (the first
  level is folded into the bias). The penalty is not shift-invariant: at the optimum each
  group's scaled weights sum to zero (the intercept's own condition makes the group's data
  gradient sum to zero), so we re-centre them before solving. The shift is orthogonal to
  the gradient, so C barely moves, but it would swamp the residual below.

The closed form is exact only at an exact minimiser. A learner stopped by its tolerance
(scikit-learn's lbfgs at 1e-4) leaves a residual gradient that biases the estimate: a few
percent where ``C`` is large, more on badly conditioned data. We report that residual,
``‖w + C·G‖ / ‖w‖`` at the estimate, so a user can tell a trustworthy estimate from one
the learner's early stop has spoiled (bench/hyperparameters.py: every estimate with a
residual under 0.03 came within 1.1% of the true C; residuals of 0.35–0.99 on the
census-style table went with errors of 7–97%). (Retraining the known learner over a grid
of ``C`` to match the stolen weights does not help: away from the exact ``C`` the stopped
solver lands ~1% off everywhere, so only an exhaustive search would find it.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace

#: a residual past this says the learner stopped far from its optimum (see the module doc)
RESIDUAL_WARNING = 0.1


@dataclass(frozen=True)
class RegularisationEstimate:
    """The stolen regularisation strength: ``C`` (scikit-learn's) and ``lam = 1/C``.

    ``residual`` is the relative size of ``w + C·G`` at the estimate: 0 at an exact
    minimiser; past :data:`RESIDUAL_WARNING` the learner stopped far from its optimum and
    the estimate is biased.
    """

    C: float
    residual: float
    kind: str

    @property
    def lam(self) -> float:
        return 1.0 / self.C

    def to_dict(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "lambda": self.lam,
            "residual": self.residual,
            "kind": self.kind,
        }


def _scaled_weights(
    coef: NDArray[np.float64], space: FeatureSpace, scale: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Raw-space weights as the learner saw them (after the bounds scaler), groups re-centred."""
    W = np.atleast_2d(coef) / scale[None, :]
    for group in space.categorical:
        cols = list(group.columns)
        W[:, cols] -= W[:, cols].mean(axis=1, keepdims=True)
    return np.asarray(W)


def data_gradient(
    coef: NDArray[np.float64],
    intercept: NDArray[np.float64],
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    Xs: NDArray[np.float64],
    kind: str,
) -> NDArray[np.float64]:
    """Σ_i (p_i − y_i) x_i in the scaled space, per class row (one row for binary)."""
    Z = X @ np.atleast_2d(coef).T + np.atleast_1d(intercept)
    if kind == "binary":
        p = 1.0 / (1.0 + np.exp(-np.clip(Z[:, 0], -700, 700)))
        return np.asarray(((p - y)[:, None] * Xs).sum(axis=0)[None, :])
    if kind == "ovr":  # each class's own binary logistic regression
        P = 1.0 / (1.0 + np.exp(-np.clip(Z, -700, 700)))
        Y = np.eye(Z.shape[1])[y]
        return np.asarray((P - Y).T @ Xs)
    Z = Z - Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    return np.asarray((P - np.eye(Z.shape[1])[y]).T @ Xs)


def steal_regularisation(
    model: Any,
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    space: FeatureSpace,
) -> RegularisationEstimate | dict[int, RegularisationEstimate]:
    """The regularisation strength of the model ``model`` was stolen from.

    ``model``: a stolen linear copy (``coef_``, ``intercept_`` and ``kind``: ``binary``,
    ``multinomial`` or ``ovr``). ``X, y``: the victim's training rows (encoded as the
    feature space encodes them) and class indices. One-vs-rest trains one binary model per
    class, each with its own optimum: the answer is then one estimate per class.
    """
    from modelsteal.victims.training import bounds_scaler

    kind = str(getattr(model, "kind", ""))
    if kind not in ("binary", "multinomial", "ovr") or not hasattr(model, "coef_"):
        raise InvalidInput(
            "hyperparameter stealing needs a stolen linear model (eq-logistic, eq-softmax or eq-ovr)"
        )
    X = space.validate(X, what="training data")
    y = np.asarray(y, dtype=np.int64)
    if y.shape[0] != X.shape[0]:
        raise InvalidInput(f"{X.shape[0]} training rows but {y.shape[0]} labels")
    n_classes = 2 if kind == "binary" else model.coef_.shape[0]
    if y.min() < 0 or y.max() >= n_classes or np.unique(y).size < 2:
        raise InvalidInput("the training labels must name two or more of the model's classes")
    scaler = bounds_scaler(space)
    scale = np.where(space.upper > space.lower, scaler.scale_, 1.0)
    Xs = scaler.transform(X)
    flat = space.upper <= space.lower
    W = _scaled_weights(model.coef_, space, scale)
    G = data_gradient(model.coef_, model.intercept_, X, y, Xs, kind)
    W[:, flat] = 0.0
    G[:, flat] = 0.0
    if kind == "ovr":
        return {k: _estimate(W[k : k + 1], G[k : k + 1], "ovr") for k in range(W.shape[0])}
    return _estimate(W, G, kind)


def _estimate(W: NDArray[np.float64], G: NDArray[np.float64], kind: str) -> RegularisationEstimate:
    gg = float(np.sum(G * G))
    if gg == 0.0 or not np.isfinite(gg):
        raise InvalidInput(
            "the training data's gradient vanishes: are these the rows the victim learnt from?"
        )
    C = -float(np.sum(W * G)) / gg
    if not C > 0:
        raise InvalidInput(
            f"the estimate C = {C:.3g} is not positive: the training data or the labels do not fit the stolen model"
        )
    residual = float(np.linalg.norm(W + C * G)) / max(float(np.linalg.norm(W)), 1e-300)
    return RegularisationEstimate(C, residual, kind)
