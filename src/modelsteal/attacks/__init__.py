"""Extraction attacks."""

from modelsteal.attacks.base import AttackContext, ExtractionAttack, ExtractionResult, HistoryPoint
from modelsteal.attacks.equation_solving import (
    LogisticEquationSolving,
    OvREquationSolving,
    SoftmaxEquationSolving,
)
from modelsteal.attacks.mlp_extraction import MLPEquationSolving, mlp_unknowns
from modelsteal.attacks.published_family import EquationSolving
from modelsteal.attacks.registry import ATTACKS, attack_names, make_attack

__all__ = [
    "ATTACKS",
    "AttackContext",
    "EquationSolving",
    "ExtractionAttack",
    "ExtractionResult",
    "HistoryPoint",
    "LogisticEquationSolving",
    "MLPEquationSolving",
    "OvREquationSolving",
    "SoftmaxEquationSolving",
    "attack_names",
    "make_attack",
    "mlp_unknowns",
]
