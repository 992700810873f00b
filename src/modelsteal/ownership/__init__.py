"""Ownership: is that model a copy of mine? Methods, independent models, calibrated p-values."""

from __future__ import annotations

from typing import Any

from modelsteal.ownership.api_watermark import DawnVerification, TriggerWatermark
from modelsteal.ownership.base import Evidence, Owner, OwnershipMethod, Verdict, owner_of
from modelsteal.ownership.conferrable import ConferrableExamples
from modelsteal.ownership.dataset_inference import DatasetInference, MinGDInference
from modelsteal.ownership.fingerprints import MistakeCorrelation, SampleCorrelation
from modelsteal.ownership.null import NullDistribution
from modelsteal.ownership.zoo import build_zoo, load_zoo, null_distribution
from modelsteal.registry import OWNERSHIP_METHODS

#: the ownership methods by name (rows, with the parameters each name fixes, in ``modelsteal.registry``)
METHODS = OWNERSHIP_METHODS


def make_method(name: str, **options: Any) -> OwnershipMethod:
    """The ownership method registered as ``name`` with ``options``."""
    method: OwnershipMethod = OWNERSHIP_METHODS.make(name, **options)
    return method


__all__ = [
    "METHODS",
    "ConferrableExamples",
    "DatasetInference",
    "DawnVerification",
    "Evidence",
    "MinGDInference",
    "MistakeCorrelation",
    "NullDistribution",
    "Owner",
    "OwnershipMethod",
    "SampleCorrelation",
    "TriggerWatermark",
    "Verdict",
    "build_zoo",
    "load_zoo",
    "make_method",
    "null_distribution",
    "owner_of",
]
