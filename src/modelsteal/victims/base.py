"""Victims: anything with ``classes_``, ``feature_space`` and ``predict_proba``.

Adapters wrap a fitted scikit-learn estimator or a PyTorch module behind the same
interface, together with what the owner publishes about the model (its family and
architecture), as MLaaS platforms do.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray

from modelsteal.feature_space import FeatureSpace

FloatArray = NDArray[np.float64]


@runtime_checkable
class Victim(Protocol):
    """The model an API serves."""

    classes_: NDArray[Any]
    feature_space: FeatureSpace
    family: str
    details: dict[str, Any]

    def predict_proba(self, X: FloatArray) -> FloatArray: ...

    def predict(self, X: FloatArray) -> NDArray[Any]: ...


class SklearnVictim:
    """A fitted scikit-learn classifier (a pipeline included) as a victim."""

    def __init__(
        self,
        estimator: Any,
        feature_space: FeatureSpace,
        *,
        family: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.estimator = estimator
        self.feature_space = feature_space
        self.family = family
        self.details = dict(details or {})
        # class indices, as every victim answers; the estimator's own labels (strings, say, for
        # an imported model) are the card's class names, in the estimator's sorted order
        self.classes_ = np.arange(len(estimator.classes_))

    def predict_proba(self, X: FloatArray) -> FloatArray:
        X = self.feature_space.validate(X)
        return np.asarray(self.estimator.predict_proba(X), dtype=np.float64)

    def predict(self, X: FloatArray) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


class TorchVictim:
    """A PyTorch classifier returning logits, as a victim; softmax gives the probabilities."""

    def __init__(
        self,
        module: torch.nn.Module,
        feature_space: FeatureSpace,
        classes: NDArray[Any],
        *,
        family: str,
        details: dict[str, Any] | None = None,
        batch_size: int = 4096,
    ) -> None:
        self.module = module.eval()
        self.feature_space = feature_space
        self.classes_ = np.asarray(classes)
        self.family = family
        self.details = dict(details or {})
        self.batch_size = batch_size
        #: a trigger-set watermark (inputs, labels) embedded at training, kept by the owner
        self.watermark: tuple[FloatArray, NDArray[np.int64]] | None = None
        self._dtype = next(module.parameters()).dtype

    def logits(self, X: FloatArray) -> FloatArray:
        X = self.feature_space.validate(X)
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], self.batch_size):
                chunk = torch.as_tensor(X[start : start + self.batch_size], dtype=self._dtype)
                out.append(self.module(chunk).double().numpy())
        if not out:
            return np.zeros((0, self.classes_.size))
        return np.concatenate(out, axis=0)

    def predict_proba(self, X: FloatArray) -> FloatArray:
        z = self.logits(X)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def predict(self, X: FloatArray) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.logits(X), axis=1)])
