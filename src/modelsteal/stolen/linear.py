"""A linear classifier in the raw input space: binary logistic, multinomial or one-vs-rest."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from modelsteal.errors import InvalidInput
from modelsteal.stolen.common import sigmoid, softmax

KINDS = ("binary", "multinomial", "ovr")


class StolenLinearModel(ClassifierMixin, BaseEstimator):
    """``predict_proba`` of a logistic model with weights ``coef_`` and ``intercept_``.

    ``kind='binary'``: one row of weights, p(class 1) = σ(w·x + b).
    ``kind='multinomial'``: softmax over per-class scores.
    ``kind='ovr'``: per-class σ(w_i·x + b_i), normalised to sum to one (scikit-learn's OvR).

    Equation-solving attacks set the weights with :meth:`set_parameters`; :meth:`fit`
    learns them from labelled rows (retraining).
    """

    def __init__(self, kind: str = "multinomial", C: float = 1e4, max_iter: int = 5000) -> None:
        self.kind = kind
        self.C = C
        self.max_iter = max_iter

    def set_parameters(
        self, coef: NDArray[np.float64], intercept: NDArray[np.float64], classes: NDArray[Any]
    ) -> StolenLinearModel:
        if self.kind not in KINDS:
            raise InvalidInput(f"kind must be one of {KINDS}")
        self.coef_ = np.atleast_2d(np.asarray(coef, dtype=np.float64))
        self.intercept_ = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = self.coef_.shape[1]
        return self

    @property
    def linear_kind_(self) -> str:
        return self.kind

    def fit(self, X: NDArray[np.float64], y: NDArray[Any]) -> StolenLinearModel:
        if self.kind == "ovr":
            raise InvalidInput(
                "fit learns binary or multinomial weights; one-vs-rest is set by equation solving"
            )
        model = LogisticRegression(C=self.C, max_iter=self.max_iter).fit(X, y)
        return self.set_parameters(model.coef_, model.intercept_, model.classes_)

    def decision_function(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        check_is_fitted(self, "coef_")
        return np.asarray(np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_)

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self.decision_function(X)
        if self.kind == "binary":
            p = sigmoid(z[:, 0])
            return np.column_stack([1.0 - p, p])
        if self.kind == "ovr":
            s = sigmoid(z)
            return np.asarray(s / s.sum(axis=1, keepdims=True))
        return softmax(z)

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])
