"""Every registered part follows scikit-learn's parameter contract (``params.Configurable``).

Generated from the registries, so a new part cannot escape it: built from its registry row
(its preset, and for a parameter without a default the value below, chosen by the
parameter's name, not the part's), it keeps each parameter under its own name, rebuilds
from ``get_params()`` with the same ``repr``, and its ``to_dict()`` is plain JSON that
names no secret.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelsteal.registry import KINDS

#: values for parameters that have no default, by the parameter's name
REQUIRED: dict[str, Any] = {
    "sigma": 0.5,
    "beta": 0.7,
    "gamma": 0.2,
    "epsilon": 0.8,
    "tau": 0.9,
    "secret": "contract-secret",
    "n_samples": 40,
}


#: parameters whose default (None) the part refuses: it has no usable default
NO_USABLE_DEFAULT = {"model"}


def build(kind: str, name: str, tmp_path: Path, misinformation: Any) -> Any:
    registry = KINDS[kind]
    cls, row = registry[name], registry.row(name)
    given = {**REQUIRED, "store": str(tmp_path / "store.db"), "model": misinformation}
    wanted = set(cls.required_params()) | (NO_USABLE_DEFAULT & set(cls.param_names()))
    return registry.make(name, **{n: given[n] for n in wanted - set(row.preset)})


@pytest.fixture(scope="module")
def misinformation(victim_factory: Any) -> Any:
    """An in-memory model for the transform that blends one in (any classifier will do here)."""
    victim, _ = victim_factory("digits", "softmax")
    return victim


@pytest.mark.parametrize(("kind", "name"), [(k, n) for k, reg in KINDS.items() for n in reg])
def test_every_part_follows_the_parameter_contract(
    kind: str, name: str, tmp_path: Path, misinformation: Any
) -> None:
    part = build(kind, name, tmp_path, misinformation)
    params = part.get_params()
    assert set(params) == set(type(part).param_names()) or kind == "attack"  # a dispatcher forwards
    rebuilt = type(part)(**params)
    assert repr(rebuilt) == repr(part)
    recorded = part.to_dict()
    assert json.loads(json.dumps(recorded)) == recorded
    for secret in type(part)._secret_params:
        assert secret not in recorded and str(params[secret]) not in repr(part)
