"""Parameter error for linear models: how close the stolen weights are to the victim's.

Both sides are brought to one canonical form first, since several parameter vectors give
the same function: multinomial weights are centred over classes (softmax ignores a shift
shared by all classes) and each one-hot group's first level is folded into the bias
(its columns always sum to one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace

LinearKind = Literal["binary", "multinomial", "ovr"]


@dataclass(frozen=True)
class LinearParameters:
    """Raw-input-space weights: ``coef`` (rows of classes, or one row if binary), ``intercept``."""

    kind: LinearKind
    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]

    def canonical(self, space: FeatureSpace | None = None) -> NDArray[np.float64]:
        W = np.array(self.coef, dtype=np.float64, copy=True)
        b = np.array(self.intercept, dtype=np.float64, copy=True)
        if space is not None:
            for group in space.categorical:
                cols = list(group.columns)
                shift = W[:, cols[0]].copy()
                W[:, cols] -= shift[:, None]
                b += shift
        theta = np.hstack([W, b[:, None]])
        if self.kind == "multinomial":
            theta -= theta.mean(axis=0, keepdims=True)
        return theta


def linear_parameters(estimator: Any) -> LinearParameters:
    """The raw-space parameters of a linear scikit-learn model (a scaling pipeline included)."""
    scale = None
    offset = None
    model = estimator
    if isinstance(estimator, Pipeline):
        *pre, (_, model) = estimator.steps
        if len(pre) > 1:
            raise InvalidInput("only a single scaling step may precede a linear model")
        if pre:
            scaler = pre[0][1]
            if not hasattr(scaler, "scale_"):
                raise InvalidInput(f"cannot fold a {type(scaler).__name__} into linear weights")
            scale = np.asarray(scaler.scale_, dtype=np.float64)
            offset = np.asarray(
                getattr(scaler, "min_", None) if hasattr(scaler, "min_") else -scaler.mean_ * scale
            )
    if hasattr(model, "coef_") and hasattr(model, "intercept_"):
        declared = getattr(model, "linear_kind_", None)
        kind: LinearKind = declared or ("binary" if model.coef_.shape[0] == 1 else "multinomial")
        W = np.asarray(model.coef_, dtype=np.float64)
        b = np.asarray(model.intercept_, dtype=np.float64)
    elif isinstance(model, OneVsRestClassifier) and all(
        isinstance(e, LogisticRegression) for e in model.estimators_
    ):
        kind = "ovr"
        W = np.vstack([e.coef_ for e in model.estimators_]).astype(np.float64)
        b = np.concatenate([e.intercept_ for e in model.estimators_]).astype(np.float64)
    else:
        raise InvalidInput(f"{type(model).__name__} is not a linear model")
    if scale is not None and offset is not None:
        b = b + W @ offset
        W = W * scale[None, :]
    return LinearParameters(kind, W, b)


def max_relative_parameter_error(
    victim: LinearParameters,
    stolen: LinearParameters,
    space: FeatureSpace | None = None,
    floor: float = 1e-6,
) -> float:
    """max_i |θ̂_i − θ_i| / max(|θ_i|, floor·max|θ|) over the canonical parameters."""
    if victim.kind != stolen.kind and {victim.kind, stolen.kind} != {"binary", "multinomial"}:
        raise InvalidInput(f"cannot compare {victim.kind} and {stolen.kind} parameters")
    a, b = victim.canonical(space), stolen.canonical(space)
    if a.shape != b.shape:
        # a binary model's one row against a two-row centred form: compare log-odds rows
        a = a[-1:] - a[:1] if a.shape[0] == 2 else a
        b = b[-1:] - b[:1] if b.shape[0] == 2 else b
    denom = np.maximum(np.abs(a), floor * np.abs(a).max())
    return float(np.max(np.abs(a - b) / denom))
