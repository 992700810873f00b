"""Transferability: do adversarial examples crafted on a copy fool the victim?

A stolen copy is worth more to an attacker than its agreement rate when white-box attacks on
it carry over to the victim. We craft untargeted FGSM (Goodfellow et al. 2015) and PGD
(Madry et al. 2018, L-infinity, random start) examples on a source model with gradients
(any network with a ``module_``, such as :class:`~modelsteal.stolen.net.StolenNet`) and
report, over the rows that both the source and the victim classify correctly, the share
the source misclassifies (white-box success) and the share the victim misclassifies
(transfer success). Compare a stolen copy with an independently trained model to see what
stealing added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as nnf

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.random import RandomState, check_random_state

METHODS = ("fgsm", "pgd")


class GradientModel(Protocol):
    module_: nn.Module
    classes_: NDArray[Any]


class Predictor(Protocol):
    def predict(self, X: NDArray[np.float64]) -> NDArray[Any]: ...


@dataclass(frozen=True)
class TransferResult:
    method: str
    epsilon: float
    rows: int
    source_success: float
    victim_success: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def craft(
    source: GradientModel,
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    space: FeatureSpace,
    *,
    method: str = "fgsm",
    epsilon: float = 0.1,
    steps: int = 10,
    random_state: RandomState = 0,
) -> NDArray[np.float64]:
    """Adversarial rows within ``epsilon`` (a share of each feature's range) of ``X``."""
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
    if not 0.0 < epsilon <= 1.0:
        raise InvalidInput("epsilon is a share of each feature's range, in (0, 1]")
    lower = torch.as_tensor(space.lower, dtype=torch.float32)
    upper = torch.as_tensor(space.upper, dtype=torch.float32)
    eps = epsilon * (upper - lower)
    x0 = torch.as_tensor(X, dtype=torch.float32)
    target = torch.as_tensor(y, dtype=torch.long)
    net = source.module_.eval()

    def grad_sign(x: torch.Tensor) -> torch.Tensor:
        x = x.clone().requires_grad_(True)
        nnf.cross_entropy(net(x), target).backward()
        grad = x.grad
        return torch.zeros_like(x) if grad is None else grad.sign()

    def project(x: torch.Tensor) -> torch.Tensor:
        x = torch.maximum(torch.minimum(x, x0 + eps), x0 - eps)
        return torch.maximum(torch.minimum(x, upper), lower)

    if method == "fgsm":
        return project(x0 + eps * grad_sign(x0)).double().numpy()
    rng = check_random_state(random_state)
    start = torch.as_tensor(rng.uniform(-1.0, 1.0, X.shape), dtype=torch.float32)
    x = project(x0 + start * eps)
    alpha = 2.5 * eps / max(steps, 1)
    for _ in range(steps):
        x = project(x + alpha * grad_sign(x))
    return x.detach().double().numpy()


def transfer_rate(
    victim: Predictor,
    source: GradientModel,
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    space: FeatureSpace,
    *,
    method: str = "fgsm",
    epsilon: float = 0.1,
    steps: int = 10,
    random_state: RandomState = 0,
) -> TransferResult:
    """Craft on ``source``, test on ``victim``, over rows both classify correctly."""
    y = np.asarray(y)
    source_pred = np.asarray(source.classes_)[_predict(source, X)]
    ok = (source_pred == y) & (np.asarray(victim.predict(X)) == y)
    rows = int(ok.sum())
    if rows == 0:
        return TransferResult(method, epsilon, 0, float("nan"), float("nan"))
    codes = np.searchsorted(np.asarray(source.classes_), y[ok])
    adv = craft(
        source, X[ok], codes, space, method=method, epsilon=epsilon, steps=steps, random_state=random_state
    )
    source_wrong = np.asarray(source.classes_)[_predict(source, adv)] != y[ok]
    victim_wrong = np.asarray(victim.predict(adv)) != y[ok]
    return TransferResult(method, epsilon, rows, float(source_wrong.mean()), float(victim_wrong.mean()))


def _predict(source: GradientModel, X: NDArray[np.float64]) -> NDArray[np.intp]:
    with torch.no_grad():
        return np.asarray(source.module_(torch.as_tensor(X, dtype=torch.float32)).argmax(dim=1).numpy())
