"""Extraction attacks."""

from modelsteal.attacks.base import AttackContext, ExtractionAttack, ExtractionResult, HistoryPoint
from modelsteal.attacks.equation_solving import (
    LogisticEquationSolving,
    OvREquationSolving,
    SoftmaxEquationSolving,
)

__all__ = [
    "AttackContext",
    "ExtractionAttack",
    "ExtractionResult",
    "HistoryPoint",
    "LogisticEquationSolving",
    "OvREquationSolving",
    "SoftmaxEquationSolving",
]
