"""Ownership: is that model a copy of mine? Methods, independent models, calibrated p-values."""

from __future__ import annotations

from typing import Any

from modelsteal.errors import InvalidInput
from modelsteal.ownership.api_watermark import DawnVerification, TriggerWatermark
from modelsteal.ownership.base import Evidence, Owner, OwnershipMethod, Verdict, owner_of
from modelsteal.ownership.conferrable import ConferrableExamples
from modelsteal.ownership.dataset_inference import DatasetInference, MinGDInference
from modelsteal.ownership.fingerprints import MistakeCorrelation, SampleCorrelation
from modelsteal.ownership.null import NullDistribution
from modelsteal.ownership.zoo import build_zoo, load_zoo, null_distribution

#: name → (class, fixed options); one row per ownership method
METHODS: dict[str, tuple[type[OwnershipMethod], dict[str, Any]]] = {
    "sac-m": (SampleCorrelation, {"answers": "probabilities"}),
    "sac-m-labels": (SampleCorrelation, {"answers": "labels"}),
    "sac-m-tempered": (SampleCorrelation, {"answers": "probabilities", "temperature": "fitted"}),
    "sac-m-relative": (SampleCorrelation, {"answers": "probabilities", "relative": True}),
    "sac-m-relative-labels": (SampleCorrelation, {"answers": "labels", "relative": True}),
    "sac-w": (MistakeCorrelation, {"answers": "probabilities"}),
    "sac-w-labels": (MistakeCorrelation, {"answers": "labels"}),
    "sac-w-tempered": (MistakeCorrelation, {"answers": "probabilities", "temperature": "fitted"}),
    "dataset-inference": (DatasetInference, {"answers": "labels"}),
    "dataset-inference-proba": (DatasetInference, {"answers": "probabilities"}),
    "dataset-inference-mingd": (MinGDInference, {}),
    "cae": (ConferrableExamples, {}),
    "dawn": (DawnVerification, {}),
    "watermark": (TriggerWatermark, {}),
}


def make_method(name: str, **options: Any) -> OwnershipMethod:
    """The ownership method registered as ``name`` with ``options``."""
    if name not in METHODS:
        raise InvalidInput(f"unknown ownership method {name!r}; choose one of: {', '.join(METHODS)}")
    cls, fixed = METHODS[name]
    return cls(**fixed, **options)


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
