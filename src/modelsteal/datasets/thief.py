"""The attacker's own data: what a thief can query a victim with.

- ``in_distribution``: the owner trains on part of the training split; the thief holds the
  rest, from the same distribution, which the victim never saw;
- ``resized``: another image data set resized into the victim's shape and pixel range
  (digits into MNIST and back);
- ``patches``: grey-scale patches cut from the natural photographs scikit-learn ships;
- ``uniform``: noise drawn uniformly from the published feature box;
- ``seed_set``: a few labelled rows per class (Papernot et al.'s initial substitute set).

Every pool is fixed by its ``random_state``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from numpy.typing import NDArray
from torch.nn import functional as nnf

from modelsteal.catalog import POOL_KINDS
from modelsteal.datasets.base import Dataset
from modelsteal.datasets.bundled import load_dataset
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.random import RandomState, check_random_state


@dataclass(frozen=True)
class ThiefPool:
    """Rows the attacker may query, and their true labels when the attacker knows them."""

    name: str
    X: NDArray[np.float64]
    y: NDArray[np.int64] | None = None
    description: str = ""

    def __len__(self) -> int:
        return int(self.X.shape[0])


def split_for_theft(
    data: Dataset, *, victim_rows: int | None = None, random_state: RandomState = 0
) -> tuple[Dataset, ThiefPool]:
    """The owner's training set (``victim_rows`` rows) and the thief's pool (the rest).

    Test rows stay with the evaluator: neither side trains or queries with them.
    """
    n = data.X_train.shape[0]
    keep = victim_rows if victim_rows is not None else n // 2
    if not 1 <= keep < n:
        raise InvalidInput(f"victim_rows must lie in [1, {n - 1}] for {data.name}")
    order = check_random_state(random_state).permutation(n)
    own, thief = order[:keep], order[keep:]
    owner = replace(data, X_train=data.X_train[own], y_train=data.y_train[own])
    pool = ThiefPool(
        "in-distribution",
        data.X_train[thief],
        data.y_train[thief],
        f"{thief.size} {data.name} training rows the victim never saw",
    )
    return owner, pool


def _resize_images(
    X: NDArray[np.float64], shape: tuple[int, int], out_shape: tuple[int, int]
) -> NDArray[np.float64]:
    imgs = torch.as_tensor(X, dtype=torch.float32).reshape(-1, 1, *shape)
    out = nnf.interpolate(imgs, size=out_shape, mode="bilinear", align_corners=False)
    return out.reshape(X.shape[0], -1).double().numpy()


def _resize_framed(
    X: NDArray[np.float64], shape: tuple[int, int], out_shape: tuple[int, int]
) -> NDArray[np.float64]:
    """Resize, keeping MNIST's frame: its digits sit in the central 20x20 of 28x28."""
    if shape == (28, 28):
        X = X.reshape(-1, 28, 28)[:, 4:24, 4:24].reshape(X.shape[0], -1)
        shape = (20, 20)
    if out_shape == (28, 28):
        inner = _resize_images(X, shape, (20, 20)).reshape(-1, 20, 20)
        return np.pad(inner, ((0, 0), (4, 4), (4, 4))).reshape(X.shape[0], -1)
    return _resize_images(X, shape, out_shape)


def _into_box(X01: NDArray[np.float64], space: FeatureSpace) -> NDArray[np.float64]:
    return np.asarray(space.lower + np.clip(X01, 0.0, 1.0) * (space.upper - space.lower))


def _image_shape(space: FeatureSpace, what: str) -> tuple[int, int]:
    if space.image_shape is None or len(space.image_shape) != 2:
        raise InvalidInput(f"{what} pools need an image feature space; this one is tabular")
    return int(space.image_shape[0]), int(space.image_shape[1])


def resized_pool(source: str, space: FeatureSpace, *, limit: int | None = None) -> ThiefPool:
    """Every image of bundled data set ``source`` (train and test) resized into ``space``."""
    data = load_dataset(source)
    src_shape = _image_shape(data.feature_space, "resized")
    dst_shape = _image_shape(space, "resized")
    X = np.vstack([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    lo, hi = data.feature_space.lower, data.feature_space.upper
    X01 = (X - lo) / np.where(hi > lo, hi - lo, 1.0)
    out = _into_box(_resize_framed(X01, src_shape, dst_shape), space)
    if limit is not None:
        out, y = out[:limit], y[:limit]
    return ThiefPool(
        "resized",
        out,
        y,
        f"{out.shape[0]} {source} images resized from {src_shape[0]}x{src_shape[1]} to {dst_shape[0]}x{dst_shape[1]}",
    )


def patches_pool(space: FeatureSpace, n: int, *, random_state: RandomState = 0) -> ThiefPool:
    """``n`` grey-scale patches of scikit-learn's sample photographs, resized into ``space``.

    Patches are dark-background-normalised to the box: each is stretched to [0, 1] and, as
    digits are light strokes on dark ground, inverted when its mean is above one half.
    """
    from sklearn.datasets import load_sample_images

    rng = check_random_state(random_state)
    dst = _image_shape(space, "patches")
    photos = [np.asarray(img, dtype=np.float64).mean(axis=2) / 255.0 for img in load_sample_images().images]
    out = np.empty((n, dst[0] * dst[1]))
    for i in range(n):
        photo = photos[int(rng.integers(len(photos)))]
        size = int(rng.integers(16, 96))
        r = int(rng.integers(0, photo.shape[0] - size))
        c = int(rng.integers(0, photo.shape[1] - size))
        patch = photo[r : r + size, c : c + size]
        patch = (patch - patch.min()) / max(float(np.ptp(patch)), 1e-9)
        if patch.mean() > 0.5:
            patch = 1.0 - patch
        out[i] = _resize_images(patch.reshape(1, -1), (size, size), dst)[0]
    return ThiefPool(
        "patches", _into_box(out, space), None, f"{n} patches of scikit-learn's sample photographs"
    )


def uniform_pool(space: FeatureSpace, n: int, *, random_state: RandomState = 0) -> ThiefPool:
    """``n`` rows drawn uniformly from the feature box."""
    return ThiefPool(
        "uniform", space.sample_uniform(n, check_random_state(random_state)), None, f"{n} uniform rows"
    )


def seed_set(pool: ThiefPool, per_class: int, *, random_state: RandomState = 0) -> ThiefPool:
    """``per_class`` labelled rows of each class from ``pool`` (which must carry labels)."""
    if pool.y is None:
        raise InvalidInput("a seed set needs a pool with labels")
    rng = check_random_state(random_state)
    picks = [rng.permutation(np.flatnonzero(pool.y == c))[:per_class] for c in np.unique(pool.y)]
    idx = np.concatenate(picks)
    return ThiefPool("seed", pool.X[idx], pool.y[idx], f"{idx.size} labelled seed rows")


def make_pool(
    kind: str,
    data: Dataset,
    *,
    n: int = 2000,
    victim_rows: int | None = None,
    random_state: RandomState = 0,
) -> ThiefPool:
    """A pool by kind for the victim trained on ``data`` (see :data:`POOL_KINDS`)."""
    space = data.feature_space
    if kind == "in-distribution":
        return split_for_theft(data, victim_rows=victim_rows, random_state=random_state)[1]
    if kind == "resized":
        other = {"digits": "mnist5k", "mnist5k": "digits"}.get(data.name)
        if other is None:
            raise InvalidInput("resized pools exist for digits and mnist5k")
        return resized_pool(other, space, limit=n)
    if kind == "patches":
        return patches_pool(space, n, random_state=random_state)
    if kind == "uniform":
        return uniform_pool(space, n, random_state=random_state)
    raise InvalidInput(f"unknown pool {kind!r}; choose one of {', '.join(POOL_KINDS)}")
