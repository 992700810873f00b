"""The decision-tree victim: answers incomplete queries as BigML does, and gives confidences.

scikit-learn sends a missing value (NaN) down one child, so every query reaches a leaf.
BigML instead stops at the last node it can decide: a query that lacks the feature a node
tests is answered by that node. :class:`TreeVictim` walks the fitted tree itself to answer
that way, and reports BigML's confidence: the Wilson score lower bound (95%) of the
majority class's share of the training rows in the node reached. Both matter to path
finding (Tramèr et al. 2016, Section 4.2), which needs a leaf's identity from its answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.victims.base import FloatArray, SklearnVictim

WILSON_Z = 1.959963984540054  # two-sided 95%


def wilson_lower_bound(share: FloatArray, n: FloatArray, z: float = WILSON_Z) -> FloatArray:
    """Wilson score interval's lower end for a proportion ``share`` observed in ``n`` trials."""
    n = np.maximum(n, 1e-12)
    z2 = z * z
    centre = share + z2 / (2 * n)
    spread = z * np.sqrt(np.maximum(share * (1 - share) / n + z2 / (4 * n * n), 0.0))
    return np.asarray((centre - spread) / (1 + z2 / n))


class TreeVictim(SklearnVictim):
    """A fitted ``DecisionTreeClassifier`` (alone or last in a pipeline of transforms).

    Rows may hold NaN for missing features (a one-hot group missing as a whole). Such a
    row is answered by the deepest node reached before a test on a missing feature.
    """

    supports_missing = True

    def __init__(
        self,
        estimator: Any,
        feature_space: FeatureSpace,
        *,
        family: str = "tree",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(estimator, feature_space, family=family, details=details)
        if isinstance(estimator, Pipeline):
            self._transforms = estimator[:-1]
            tree_model = estimator[-1]
        else:
            self._transforms = None
            tree_model = estimator
        if not isinstance(tree_model, DecisionTreeClassifier):
            raise InvalidInput("TreeVictim needs a fitted DecisionTreeClassifier")
        t = tree_model.tree_
        self._left = np.asarray(t.children_left, dtype=np.int64)
        self._right = np.asarray(t.children_right, dtype=np.int64)
        self._feature = np.asarray(t.feature, dtype=np.int64)
        self._threshold = np.asarray(t.threshold, dtype=np.float64)
        value = np.asarray(t.value[:, 0, :], dtype=np.float64)
        share = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
        self._proba = share
        n = np.asarray(t.weighted_n_node_samples, dtype=np.float64)
        self._confidence = wilson_lower_bound(share.max(axis=1), n)
        self.n_leaves = int(np.sum(self._left < 0))
        self.n_nodes = int(self._left.size)

    def _model_input(self, X: FloatArray) -> FloatArray:
        X = self.feature_space.validate(X, allow_missing=True)
        Z = X if self._transforms is None else self._transforms.transform(X)
        # scikit-learn compares float32 features with float64 thresholds; so do we.
        return np.asarray(Z, dtype=np.float32).astype(np.float64)

    def nodes(self, X: FloatArray) -> NDArray[np.int64]:
        """The node answering each row: a leaf, or where a missing feature stopped the walk."""
        Z = self._model_input(X)
        node = np.zeros(Z.shape[0], dtype=np.int64)
        active = np.arange(Z.shape[0])
        while active.size:
            cur = node[active]
            internal = self._left[cur] >= 0
            active, cur = active[internal], cur[internal]
            if not active.size:
                break
            values = Z[active, self._feature[cur]]
            known = ~np.isnan(values)
            active, cur, values = active[known], cur[known], values[known]
            node[active] = np.where(values <= self._threshold[cur], self._left[cur], self._right[cur])
        return node

    def predict_proba(self, X: FloatArray) -> FloatArray:
        return np.asarray(self._proba[self.nodes(X)])

    def predict_proba_and_confidence(self, X: FloatArray) -> tuple[FloatArray, FloatArray]:
        node = self.nodes(X)
        return np.asarray(self._proba[node]), np.asarray(self._confidence[node])
