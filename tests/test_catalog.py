"""The light catalog the CLI parses with names exactly what the implementing modules build."""

from __future__ import annotations

from modelsteal import catalog
from modelsteal.attacks.registry import ATTACKS, LEARNING_NAMES
from modelsteal.datasets import DATASETS


def test_attack_names_match_the_registry() -> None:
    assert tuple(ATTACKS) == catalog.ATTACK_NAMES
    for name, cls in ATTACKS.items():
        needs, summary = catalog.ATTACK_SUMMARIES[name]
        assert needs == cls.needs_probabilities, name
        assert summary == (cls.__doc__ or "").strip().splitlines()[0], name
    assert LEARNING_NAMES == catalog.LEARNING_ATTACKS
    assert set(catalog.STRATEGIES) <= set(catalog.LEARNING_ATTACKS)


def test_dataset_names_match_the_loaders() -> None:
    assert tuple(DATASETS) == tuple(catalog.DATASET_SUMMARIES)
    assert all(entry.summary == catalog.DATASET_SUMMARIES[name] for name, entry in DATASETS.items())
