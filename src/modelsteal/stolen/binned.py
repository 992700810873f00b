"""A stolen copy of a logistic model behind quantile binning: thresholds per number, then weights."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin

from modelsteal.errors import InvalidInput
from modelsteal.stolen.common import sigmoid


class StolenBinnedLinear(ClassifierMixin, BaseEstimator):
    """``p = σ(w·enc(x) + b)`` (binary) or ``softmax(W·enc(x) + b)``.

    ``enc`` one-hot encodes each binned column by its ``thresholds`` (a value above a
    threshold is in the next bin: the attack found each boundary in ``(t, t + ε]``) and
    keeps the other columns as they are (one-hot text levels). ``fit`` is not offered: the
    copy is built from stolen parameters with :meth:`set_parameters`.
    """

    def __init__(self, kind: str = "multinomial") -> None:
        self.kind = kind

    def set_parameters(
        self,
        *,
        n_features: int,
        binned: dict[int, NDArray[np.float64]],
        coef: NDArray[np.float64],
        intercept: NDArray[np.float64],
        classes: NDArray[Any],
    ) -> StolenBinnedLinear:
        if self.kind not in ("binary", "multinomial"):
            raise InvalidInput("kind must be binary or multinomial")
        self.n_features_in_ = int(n_features)
        self.binned_ = {int(j): np.sort(np.asarray(t, dtype=np.float64)) for j, t in binned.items()}
        self.coef_ = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        self.intercept_ = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        self.classes_ = np.asarray(classes)
        if self.coef_.shape[1] != self.n_encoded_:
            raise InvalidInput(f"{self.coef_.shape[1]} weights for {self.n_encoded_} encoded columns")
        return self

    @property
    def n_encoded_(self) -> int:
        plain = self.n_features_in_ - len(self.binned_)
        return plain + sum(t.size + 1 for t in self.binned_.values())

    def encode(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each binned column as its bin's one-hot (``len(thresholds)+1`` columns), then the rest."""
        X = np.asarray(X, dtype=np.float64)
        parts = []
        for j, t in self.binned_.items():
            idx = np.searchsorted(t, X[:, j], side="left")  # x > t_k: past boundary k
            parts.append(np.eye(t.size + 1)[idx])
        rest = [j for j in range(self.n_features_in_) if j not in self.binned_]
        parts.append(X[:, rest])
        return np.hstack(parts)

    def decision_function(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self.encode(X) @ self.coef_.T + self.intercept_)

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = self.decision_function(X)
        if self.kind == "binary":
            p1 = sigmoid(Z[:, 0])
            return np.column_stack([1.0 - p1, p1])
        Z = Z - Z.max(axis=1, keepdims=True)
        P = np.exp(Z)
        return np.asarray(P / P.sum(axis=1, keepdims=True))

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])
