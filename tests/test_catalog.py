"""The light rows of every registry name exactly what the implementing modules build."""

from __future__ import annotations

import pytest

from modelsteal import catalog
from modelsteal.datasets import DATASETS
from modelsteal.registry import ATTACKS, KINDS, Registry, Row


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, reg in KINDS.items() for n in reg])
def test_every_row_loads_a_part_of_its_kind_under_its_own_name(kind: str, name: str) -> None:
    registry = KINDS[kind]
    cls = registry[name]  # loads the module, checks the base class
    assert cls.__name__ == registry.row(name).cls
    assert registry.row(name).summary.strip()
    declared = getattr(cls, "name", None)
    if isinstance(declared, str) and not registry.row(name).preset:  # methods derive theirs per preset
        assert declared == name


def test_an_attack_says_what_it_is_on_its_class() -> None:
    assert ATTACKS["path-finding"].targets == ("tree",)
    assert ATTACKS["copycat"].reads == "labels" and ATTACKS["copycat"].takes_pool
    assert ATTACKS["eq-softmax"].needs_probabilities() and not ATTACKS["knockoff"].needs_probabilities()
    assert ATTACKS["knockoff"].strategies == ("random", "adaptive")
    assert all(ATTACKS[n].strategies == () or ATTACKS[n].takes_pool for n in ATTACKS)


def test_a_registry_refuses_an_unknown_name_or_a_second_row_of_one_name() -> None:
    registry: Registry[object] = Registry(
        "thing", "builtins:object", [Row("a", "builtins", "dict", "a dict")]
    )
    with pytest.raises(ValueError, match="registered already"):
        registry.register(Row("a", "builtins", "list", "again"))
    from modelsteal.errors import InvalidInput

    with pytest.raises(InvalidInput, match="unknown thing 'b'; choose one of: a"):
        registry.make("b")
    assert registry.make("a") == {}


def test_dataset_names_match_the_loaders() -> None:
    assert tuple(DATASETS) == tuple(catalog.DATASET_SUMMARIES)
    assert all(entry.summary == catalog.DATASET_SUMMARIES[name] for name, entry in DATASETS.items())
