"""A one-hidden-layer perceptron in the raw input space, optionally with a linear skip.

The skip term lets an attack on ReLU networks choose each hidden unit's orientation
freely: relu(z) = z + relu(-z), so a unit recovered with the wrong sign is exact once
its linear part moves into the skip connection.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.neural_network import MLPClassifier
from sklearn.utils.validation import check_is_fitted

from modelsteal.errors import InvalidInput
from modelsteal.stolen.common import sigmoid, softmax

ACTIVATIONS = ("relu", "tanh", "logistic")


def activate(z: NDArray[np.float64], activation: str) -> NDArray[np.float64]:
    if activation == "relu":
        return np.maximum(z, 0.0)
    if activation == "tanh":
        return np.tanh(z)
    if activation == "logistic":
        return sigmoid(z)
    raise InvalidInput(f"unknown activation {activation!r}")


class StolenMLP(ClassifierMixin, BaseEstimator):
    """Scores = W2·act(W1·x + b1) + b2 (+ S·x); probabilities by softmax over classes."""

    def __init__(self, hidden: int = 20, activation: str = "relu", random_state: int | None = None) -> None:
        self.hidden = hidden
        self.activation = activation
        self.random_state = random_state

    def set_parameters(
        self,
        W1: NDArray[np.float64],
        b1: NDArray[np.float64],
        W2: NDArray[np.float64],
        b2: NDArray[np.float64],
        classes: NDArray[Any],
        skip: NDArray[np.float64] | None = None,
    ) -> StolenMLP:
        if self.activation not in ACTIVATIONS:
            raise InvalidInput(f"activation must be one of {ACTIVATIONS}")
        self.W1_ = np.asarray(W1, dtype=np.float64)
        self.b1_ = np.asarray(b1, dtype=np.float64)
        self.W2_ = np.asarray(W2, dtype=np.float64)
        self.b2_ = np.asarray(b2, dtype=np.float64)
        self.skip_ = None if skip is None else np.asarray(skip, dtype=np.float64)
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = self.W1_.shape[1]
        return self

    def fit(self, X: NDArray[np.float64], y: NDArray[Any]) -> StolenMLP:
        """Learn from labelled rows (retraining), through scikit-learn's MLPClassifier."""
        model = MLPClassifier(
            hidden_layer_sizes=(self.hidden,),
            activation=self.activation,
            max_iter=2000,
            random_state=self.random_state,
        ).fit(X, y)
        W1, W2 = model.coefs_
        b1, b2 = model.intercepts_
        if W2.shape[1] == 1:  # binary: one logit for class 1
            W2 = np.hstack([np.zeros_like(W2), W2])
            b2 = np.concatenate([[0.0], b2])
        return self.set_parameters(W1.T, b1, W2.T, b2, model.classes_)

    def scores(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        check_is_fitted(self, "W1_")
        X = np.asarray(X, dtype=np.float64)
        h = activate(X @ self.W1_.T + self.b1_, self.activation)
        z = h @ self.W2_.T + self.b2_
        if self.skip_ is not None:
            z = z + X @ self.skip_.T
        return np.asarray(z)

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return softmax(self.scores(X))

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.scores(X), axis=1)])
