"""The copy a retraining attack trains: a scikit-learn pipeline of the published family."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline

FloatArray = NDArray[np.float64]


class LabelCopy:
    """A trained copy whose ``predict_proba`` is one-hot when its model has none (SVC)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def fit(self, X: FloatArray, y: NDArray[np.int64]) -> LabelCopy:
        self.pipeline.fit(X, y)
        self.classes_ = np.asarray(self.pipeline.classes_)
        return self

    def predict(self, X: FloatArray) -> NDArray[Any]:
        return np.asarray(self.pipeline.predict(X))

    def predict_proba(self, X: FloatArray) -> FloatArray:
        if hasattr(self.pipeline[-1], "predict_proba"):
            return np.asarray(self.pipeline.predict_proba(X))
        pred = self.pipeline.predict(X)
        return np.asarray((pred[:, None] == self.classes_[None, :]).astype(np.float64))

    def margin(self, X: FloatArray) -> FloatArray:
        """How sure the copy is: top-1 minus top-2 probability, or |decision| for an SVM."""
        model = self.pipeline[-1]
        if hasattr(model, "decision_function") and not hasattr(model, "predict_proba"):
            dec = self.pipeline.decision_function(X)
            return np.asarray(
                np.abs(dec) if dec.ndim == 1 else np.sort(dec, axis=1)[:, -1] - np.sort(dec, axis=1)[:, -2]
            )
        P = np.sort(self.predict_proba(X), axis=1)
        return np.asarray(P[:, -1] - P[:, -2]) if P.shape[1] > 1 else np.ones(X.shape[0])
