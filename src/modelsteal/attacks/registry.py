"""Attacks by name, for the CLI, configuration files and campaigns.

The rows live in :mod:`modelsteal.registry` (light: names and summaries without
importing torch); what an attack is (``reads``, ``targets``, ``takes_pool``,
``strategies``) its class says. The name lists below are derived from the classes.
"""

from __future__ import annotations

from typing import Any

from modelsteal.attacks.base import ExtractionAttack
from modelsteal.registry import ATTACKS


def attack_names() -> list[str]:
    return list(ATTACKS)


def make_attack(name: str, **options: Any) -> ExtractionAttack:
    """An attack by its name, with keyword hyperparameters."""
    attack: ExtractionAttack = ATTACKS.make(name, **options)
    return attack


def names_where(**properties: Any) -> tuple[str, ...]:
    """The attacks whose class has every one of ``properties`` (``takes_pool=True``, ``reads="labels"``)."""
    return tuple(
        name
        for name, cls in ATTACKS.items()
        if all(getattr(cls, key) == value for key, value in properties.items())
    )


def learning_names() -> tuple[str, ...]:
    """The attacks that learn from a thief's pool."""
    return names_where(takes_pool=True)


__all__ = ["ATTACKS", "attack_names", "learning_names", "make_attack", "names_where"]
