"""One training loop for every PyTorch network the toolkit fits: victims and stolen copies.

Targets are probability vectors (one-hot for hard labels), so the same loop distils soft
answers and fits labels. Optional pieces:

- ``shift``: random translations of image inputs by up to ``shift`` pixels, the box's lower
  value filling the border (a training-time augmentation; it sends no query);
- ``X_unlabeled``: FixMatch-style semi-supervision (Sohn et al. 2020): the network's own
  confident prediction on an unlabelled row (max probability >= ``threshold``)
  becomes the target of a strongly augmented copy, weighted by ``unlabeled_weight``.

Training length is ``max(epochs * n / batch_size, min_steps)`` optimiser steps, so a small
labelled set is not under-trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional as nnf

from modelsteal.errors import InvalidInput


@dataclass(frozen=True)
class TrainingPlan:
    """How long and how a network is trained."""

    epochs: int = 30
    min_steps: int = 400
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    shift: int = 0
    noise: float = 0.05
    unlabeled_weight: float = 1.0
    threshold: float = 0.95

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.min_steps < 0:
            raise InvalidInput("epochs and min_steps must be >= 0")
        if self.batch_size < 1:
            raise InvalidInput("batch_size must be >= 1")
        if self.lr <= 0:
            raise InvalidInput("the learning rate must be > 0")
        if not 0.0 < self.threshold <= 1.0:
            raise InvalidInput("threshold must lie in (0, 1]")

    def steps(self, n: int) -> int:
        return max(int(np.ceil(self.epochs * n / self.batch_size)), self.min_steps if n else 0)


class ImageAugmenter:
    """Random integer translations (and optional Gaussian noise) of flat image rows."""

    def __init__(
        self,
        image_shape: tuple[int, int] | None,
        lower: torch.Tensor,
        upper: torch.Tensor,
        shift: int,
        noise: float,
    ) -> None:
        self.shape = image_shape
        self.lower = lower
        self.upper = upper
        self.shift = shift if image_shape is not None else 0
        self.noise = noise

    def __call__(self, x: torch.Tensor, gen: torch.Generator, strong: bool = False) -> torch.Tensor:
        """Weak: translation only. Strong: translation and noise."""
        out = x
        if self.shift > 0 and self.shape is not None:
            out = self._translate(out, gen, self.shift)
        if strong and self.noise > 0:
            span = self.upper - self.lower
            out = out + torch.randn(out.shape, generator=gen) * self.noise * span
            out = torch.maximum(torch.minimum(out, self.upper), self.lower)
        return out

    def _translate(self, x: torch.Tensor, gen: torch.Generator, s: int) -> torch.Tensor:
        if self.shape is None:
            return x
        h, w = self.shape
        n = x.shape[0]
        base = self.lower.reshape(1, 1, h, w)
        img = x.reshape(n, 1, h, w) - base
        padded = nnf.pad(img, (s, s, s, s))
        dy = torch.randint(0, 2 * s + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * s + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, :, None].expand(n, h, w)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, :].expand(n, h, w)
        flat = padded.reshape(n, -1)
        idx = rows * (w + 2 * s) + cols
        shifted = torch.gather(flat, 1, idx.reshape(n, -1))
        return (shifted.reshape(n, 1, h, w) + base).reshape(n, h * w)


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return -(targets * nnf.log_softmax(logits, dim=1)).sum(dim=1).mean()


def train_network(
    net: nn.Module,
    X: NDArray[np.float64],
    targets: NDArray[np.float64],
    plan: TrainingPlan,
    *,
    augmenter: ImageAugmenter | None = None,
    X_unlabeled: NDArray[np.float64] | None = None,
    seed: int = 0,
) -> nn.Module:
    """Fit ``net`` (logits out) to probability ``targets``; returns it in eval mode."""
    if X.shape[0] != targets.shape[0]:
        raise InvalidInput(f"{X.shape[0]} rows but {targets.shape[0]} targets")
    gen = torch.Generator().manual_seed(seed)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    Tt = torch.as_tensor(targets, dtype=torch.float32)
    Ut = None
    if X_unlabeled is not None and X_unlabeled.shape[0] > 0:
        Ut = torch.as_tensor(X_unlabeled, dtype=torch.float32)
    n = Xt.shape[0]
    optim = torch.optim.Adam(net.parameters(), lr=plan.lr, weight_decay=plan.weight_decay)
    steps = plan.steps(n)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=max(steps, 1))
    batch = min(plan.batch_size, n) if n else 0
    net.train()
    order = torch.randperm(n, generator=gen) if n else torch.zeros(0, dtype=torch.long)
    pos = 0
    for _ in range(steps):
        if pos + batch > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch]
        pos += batch
        xb = Xt[idx]
        if augmenter is not None:
            xb = augmenter(xb, gen)
        loss = soft_cross_entropy(net(xb), Tt[idx])
        if Ut is not None and plan.unlabeled_weight > 0:
            uidx = torch.randint(0, Ut.shape[0], (batch,), generator=gen)
            ub = Ut[uidx]
            with torch.no_grad():
                probs = nnf.softmax(net(ub), dim=1)
                conf, pseudo = probs.max(dim=1)
                mask = (conf >= plan.threshold).float()
            strong = augmenter(ub, gen, strong=True) if augmenter is not None else ub
            per_row = nnf.cross_entropy(net(strong), pseudo, reduction="none")
            loss = loss + plan.unlabeled_weight * (per_row * mask).mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
        sched.step()
    net.eval()
    return net
