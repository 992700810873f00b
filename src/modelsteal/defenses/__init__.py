"""Defences: extraction detectors and the gateway's query monitor."""

from modelsteal.defenses.detectors import (
    ACTIONS,
    DETECTORS,
    Alarm,
    BoundaryProbing,
    Coverage,
    DetectionConfig,
    Detector,
    NarrowRange,
    Prada,
    SingleClass,
    UniqueShare,
    default_detectors,
)
from modelsteal.defenses.monitor import AlarmEvent, Monitor

__all__ = [
    "ACTIONS",
    "DETECTORS",
    "Alarm",
    "AlarmEvent",
    "BoundaryProbing",
    "Coverage",
    "DetectionConfig",
    "Detector",
    "Monitor",
    "NarrowRange",
    "Prada",
    "SingleClass",
    "UniqueShare",
    "default_detectors",
]
