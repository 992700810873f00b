"""What an API publishes about a model it serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.answers import OutputMode


@dataclass(frozen=True)
class ModelInfo:
    """Published metadata: name, family and architecture details, classes, input space,
    the output mode the caller gets, the price of one query (one row), and whether the
    API answers incomplete queries (NaN, sent as JSON null, for a missing feature)."""

    name: str
    classes: tuple[str, ...]
    feature_space: FeatureSpace
    family: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    output_mode: OutputMode = field(default_factory=OutputMode)
    price_per_query: float = 0.0
    accepts_missing: bool = False

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_features(self) -> int:
        return self.feature_space.n_features
