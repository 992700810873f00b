"""A stolen neural network: a scikit-learn estimator wrapping a PyTorch module.

``fit(X, y)`` takes class labels (1-D) or probability vectors (2-D, one column per class
of ``classes``); ``X_unlabeled`` adds semi-supervised training on rows with no answer.
Images get the convolutional network victims use; tabular rows get a ReLU perceptron.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from torch import nn

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.torch_training import ImageAugmenter, TrainingPlan, train_network
from modelsteal.victims.nets import ImageCNN, TabularMLP

ARCHITECTURES = ("auto", "cnn", "mlp")


class StolenNet(ClassifierMixin, BaseEstimator):
    """A copy trained on an API's answers.

    Parameters
    ----------
    feature_space:
        The published input space (bounds, image shape); ``None`` uses the data's range.
    classes:
        The victim's classes; ``None`` takes them from ``y`` (labels) or ``arange`` (probabilities).
    architecture:
        ``cnn`` for images, ``mlp`` for tabular rows, ``auto`` to choose by the space.
    epochs, min_steps, batch_size, lr, weight_decay:
        Adam with a cosine schedule for ``max(epochs * n / batch_size, min_steps)`` steps.
    shift, noise:
        Training-time augmentation of images: pixels of random translation (``None``: chosen
        by :meth:`auto_shift` from the image size and the number of answered rows), and the
        Gaussian noise, as a share of the box, added to the strongly augmented unlabelled rows.
    unlabeled_weight, threshold:
        Weight and confidence threshold of the pseudo-label loss on ``X_unlabeled``.
    """

    def __init__(
        self,
        feature_space: FeatureSpace | None = None,
        classes: NDArray[Any] | None = None,
        *,
        architecture: str = "auto",
        hidden: int = 64,
        epochs: int = 30,
        min_steps: int = 400,
        batch_size: int = 64,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
        shift: int | None = None,
        noise: float = 0.05,
        unlabeled_weight: float = 1.0,
        threshold: float = 0.95,
        random_state: int | None = None,
    ) -> None:
        self.feature_space = feature_space
        self.classes = classes
        self.architecture = architecture
        self.hidden = hidden
        self.epochs = epochs
        self.min_steps = min_steps
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.shift = shift
        self.noise = noise
        self.unlabeled_weight = unlabeled_weight
        self.threshold = threshold
        self.random_state = random_state

    # ------------------------------------------------------------------ building
    def _space(self, X: NDArray[np.float64]) -> FeatureSpace:
        return self.feature_space if self.feature_space is not None else FeatureSpace.from_data(X)

    def _image_shape(self, space: FeatureSpace) -> tuple[int, int] | None:
        shape = space.image_shape
        return (int(shape[0]), int(shape[1])) if shape is not None and len(shape) == 2 else None

    def build(self, space: FeatureSpace, n_classes: int) -> nn.Module:
        """A freshly initialised module for ``space`` (seeded by ``random_state``)."""
        if self.architecture not in ARCHITECTURES:
            raise InvalidInput(f"architecture must be one of {', '.join(ARCHITECTURES)}")
        lower = torch.tensor(space.lower, dtype=torch.float32)
        upper = torch.tensor(space.upper, dtype=torch.float32)
        shape = self._image_shape(space)
        arch = self.architecture
        if arch == "auto":
            arch = "cnn" if shape is not None else "mlp"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0 if self.random_state is None else int(self.random_state))
            if arch == "cnn":
                if shape is None:
                    raise InvalidInput("architecture 'cnn' needs an image feature space")
                return ImageCNN(shape[0], shape[1], n_classes, lower, upper, hidden=self.hidden)
            return TabularMLP(space.n_features, n_classes, lower, upper, (2 * self.hidden, self.hidden))

    def plan(self, space: FeatureSpace, n_rows: int = 0) -> TrainingPlan:
        shape = self._image_shape(space)
        shift = self.shift
        if shift is None:
            shift = self.auto_shift(shape, n_rows)
        return TrainingPlan(
            epochs=self.epochs,
            min_steps=self.min_steps,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            shift=shift,
            noise=self.noise,
            unlabeled_weight=self.unlabeled_weight,
            threshold=self.threshold,
        )

    @staticmethod
    def auto_shift(shape: tuple[int, int] | None, n_rows: int) -> int:
        """Pixels of random shift: more for few rows, none for many.

        Shifting an answered image regularises a copy trained on a few hundred answers, but
        the victim's answer for the shifted image may differ, and with enough answers that
        label noise costs more than it gives (on mnist5k with probability answers: +3.7 points
        at 250 rows with 2 pixels, -0.8 at 1,750).
        """
        if shape is None:
            return 0
        big = min(shape) >= 16
        if n_rows <= 600:
            return 2 if big else 1
        if n_rows <= 1200 and big:
            return 1
        return 0

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: NDArray[np.float64],
        y: NDArray[Any],
        X_unlabeled: NDArray[np.float64] | None = None,
    ) -> StolenNet:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise InvalidInput(f"X must be 2-D with one row per target; got {X.shape} and {y.shape}")
        if y.ndim == 2:
            classes = np.arange(y.shape[1]) if self.classes is None else np.asarray(self.classes)
            if classes.size != y.shape[1]:
                raise InvalidInput(f"{y.shape[1]} probability columns but {classes.size} classes")
            targets = y.astype(np.float64)
        elif y.ndim == 1:
            classes = np.unique(y) if self.classes is None else np.asarray(self.classes)
            index = {c: i for i, c in enumerate(classes.tolist())}
            try:
                codes = np.array([index[c] for c in y.tolist()], dtype=np.int64)
            except KeyError as exc:
                raise InvalidInput(f"label {exc.args[0]!r} is not one of classes") from None
            targets = np.eye(classes.size)[codes]
        else:
            raise InvalidInput("y must hold labels (1-D) or probability vectors (2-D)")
        space = self._space(X)
        net = self.build(space, classes.size)
        plan = self.plan(space, X.shape[0])
        lower = torch.tensor(space.lower, dtype=torch.float32)
        upper = torch.tensor(space.upper, dtype=torch.float32)
        augmenter = None
        if plan.shift > 0 or X_unlabeled is not None:
            augmenter = ImageAugmenter(self._image_shape(space), lower, upper, plan.shift, plan.noise)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.module_ = train_network(
            net, X, targets, plan, augmenter=augmenter, X_unlabeled=X_unlabeled, seed=seed
        )
        self.classes_ = classes
        self.n_features_in_ = X.shape[1]
        return self

    # ------------------------------------------------------------------ predicting
    def logits(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        check_is_fitted(self, "module_")
        X = np.asarray(X, dtype=np.float64)
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], 4096):
                chunk = torch.as_tensor(X[start : start + 4096], dtype=torch.float32)
                out.append(self.module_(chunk).double().numpy())
        if not out:
            return np.zeros((0, self.classes_.size))
        return np.concatenate(out, axis=0)

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        z = self.logits(X)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.logits(X), axis=1)])
