"""The :class:`Dataset` record shared by bundled loaders and CSV import."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import train_test_split

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace

SPLIT_SEED = 20160810  # fixed: every user gets the same split of a bundled data set
TEST_SIZE = 0.25


@dataclass(frozen=True)
class Dataset:
    """A labelled data set split into train and test, with the space its inputs live in.

    Labels are class indices ``0..n_classes-1``; ``class_names`` holds their names.
    """

    name: str
    X_train: NDArray[np.float64]
    y_train: NDArray[np.int64]
    X_test: NDArray[np.float64]
    y_test: NDArray[np.int64]
    feature_space: FeatureSpace
    class_names: tuple[str, ...]
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_features(self) -> int:
        return self.feature_space.n_features


def split(
    name: str,
    X: NDArray[np.float64],
    y_raw: NDArray[Any],
    feature_space: FeatureSpace,
    description: str,
    info: dict[str, Any] | None = None,
) -> Dataset:
    """Encode labels to indices and make the fixed stratified split."""
    classes, y = np.unique(y_raw, return_inverse=True)
    if classes.size < 2:
        raise InvalidInput(f"{name}: the target has a single class ({classes[0]!r}); need two or more")
    counts = np.bincount(y)
    n_test = int(np.ceil(TEST_SIZE * y.size))
    # a stratified split needs two rows of every class and room for each class on both sides
    stratify = y if counts.min() >= 2 and min(n_test, y.size - n_test) >= classes.size else None
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=stratify
    )
    return Dataset(
        name=name,
        X_train=np.ascontiguousarray(X_tr, dtype=np.float64),
        y_train=np.asarray(y_tr, dtype=np.int64),
        X_test=np.ascontiguousarray(X_te, dtype=np.float64),
        y_test=np.asarray(y_te, dtype=np.int64),
        feature_space=feature_space,
        class_names=tuple(str(c) for c in classes),
        description=description,
        info=info or {},
    )
