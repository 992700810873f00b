"""PyTorch networks for victims, rebuilt from a plain architecture description.

A model directory stores the description (JSON) and the weights (safetensors), never a
pickled module; :func:`build_network` is the only way back from one to the other.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modelsteal.errors import ModelDirError


class BoxScaling(nn.Module):
    """Maps inputs from the feature space's box to [-1, 1], column by column."""

    def __init__(self, lower: torch.Tensor, upper: torch.Tensor) -> None:
        super().__init__()
        span = torch.where(upper > lower, upper - lower, torch.ones_like(upper))
        self.lower: torch.Tensor
        self.span: torch.Tensor
        self.register_buffer("lower", lower.clone())
        self.register_buffer("span", span)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * (x - self.lower) / self.span - 1.0


class ImageCNN(nn.Module):
    """Two convolution blocks and a dense layer; takes flat rows of ``height*width`` pixels."""

    def __init__(
        self,
        height: int,
        width: int,
        n_classes: int,
        lower: torch.Tensor,
        upper: torch.Tensor,
        channels: tuple[int, int] = (16, 32),
        hidden: int = 64,
    ) -> None:
        super().__init__()
        self.height, self.width = height, width
        self.scale = BoxScaling(lower, upper)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = c2 * (height // 4) * (width // 4)
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.scale(x).reshape(-1, 1, self.height, self.width)
        return self.head(self.features(x))


def build_network(arch: dict[str, Any]) -> nn.Module:
    """The module an architecture description names, with freshly initialised weights."""
    kind = arch.get("kind")
    try:
        lower = torch.tensor(arch["lower"], dtype=torch.float32)
        upper = torch.tensor(arch["upper"], dtype=torch.float32)
        if kind == "cnn":
            return ImageCNN(
                int(arch["height"]),
                int(arch["width"]),
                int(arch["n_classes"]),
                lower,
                upper,
                tuple(int(c) for c in arch["channels"]),  # type: ignore[arg-type]
                int(arch["hidden"]),
            )
        if kind == "mlp":
            return TabularMLP(
                int(arch["n_features"]),
                int(arch["n_classes"]),
                lower,
                upper,
                tuple(int(h) for h in arch["hidden"]),
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelDirError(f"bad architecture description: {exc}") from None
    raise ModelDirError(f"unknown network kind {kind!r} in the architecture description")


class TabularMLP(nn.Module):
    """Dense ReLU layers for tabular rows; inputs scaled from the feature box to [-1, 1]."""

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        lower: torch.Tensor,
        upper: torch.Tensor,
        hidden: tuple[int, ...] = (128, 64),
    ) -> None:
        super().__init__()
        self.scale = BoxScaling(lower, upper)
        layers: list[nn.Module] = []
        width = n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.scale(x))
