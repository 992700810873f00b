"""Every registered attack, held to the same contract (foolbox's and scikit-learn's model).

The cases are generated from :data:`modelsteal.registry.ATTACKS`: an attack added with one
file and one row is run here with no edit to this module. Its victim follows from what its
class says it is (the families it ``targets``, whether it ``takes_pool``, what it
``reads``). Each attack, on an in-memory transport and on the gateway in-process:

- stays within its budget, and every row it sends is counted by the oracle (and, through
  the gateway, charged to the key: the query log's rows equal the result's);
- is reproducible from its seed, and steals the same copy whichever transport it holds;
- leaves itself unchanged by a run (no state between runs);
- rebuilds from ``get_params()`` with the same ``repr``, and records its parameters in the
  result.

How well each attack steals is a different question, asked in ``tests/test_attacks_contract.py``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelsteal.gateway import Gateway, Policy, ServedModel, Store, Tier
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.registry import ATTACKS

#: the smallest bundled data set each family is trained on for the contract
DATASET_OF = {"logreg": "moons", "softmax": "iris", "ovr": "iris", "mlp": "iris", "tree": "iris"}
#: an attack whose targets need more than a family: its victim (dataset, family, feature extraction)
VICTIM_OF = {"eq-binned": ("circles", "logreg", "quantile-bins")}
#: learning attacks: rows enough for two rounds of training, few enough for a fast suite
LEARNING_BUDGET = 60
#: other attacks: their own minimum against the victim, or this, whichever is more
BUDGET = 200


def contract_victim(name: str, victim_factory: Callable, theft_factory: Callable) -> tuple[Any, Any, Any]:
    """(victim, dataset, thief pool or None) for ``name``, from what its class says."""
    cls = ATTACKS[name]
    if name in VICTIM_OF:
        dataset, family, extraction = VICTIM_OF[name]
        return (*victim_factory(dataset, family, extraction=extraction), None)
    if cls.takes_pool:
        return theft_factory("digits")
    family = cls.targets[0] if cls.targets else "softmax"
    return (*victim_factory(DATASET_OF[family], family), None)


def output_for(cls: Any) -> OutputMode:
    return OutputMode({"labels": "label", "confidences": "confidence"}.get(cls.reads, "probabilities"))  # type: ignore[arg-type]


def snapshot(attack: Any) -> dict[str, Any]:
    """What a run must not change: every attribute, deep-copied."""
    return copy.deepcopy({k: v for k, v in vars(attack).items() if not k.startswith("__")})


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b) or repr(a) == repr(b)
    except (TypeError, ValueError):
        return repr(a) == repr(b)


@pytest.mark.parametrize("name", ATTACKS.names())
def test_attack_contract(
    name: str, victim_factory: Callable, theft_factory: Callable, tmp_path: Path
) -> None:
    check_attack_contract(name, victim_factory, theft_factory, tmp_path)


def check_attack_contract(
    name: str, victim_factory: Callable, theft_factory: Callable, tmp_path: Path
) -> None:
    """The whole contract for the attack registered as ``name`` (see the module doc)."""
    cls = ATTACKS[name]
    victim, data, pool = contract_victim(name, victim_factory, theft_factory)
    options = {"pool": pool} if pool is not None else {}
    attack = ATTACKS.make(name, **options)
    mode = output_for(cls)

    # parameters: rebuilt from get_params with the same repr; secrets aside, all recorded
    rebuilt = type(attack)(**attack.get_params())
    assert repr(rebuilt) == repr(attack)
    assert repr(attack).startswith(f"{type(attack).__name__}(")

    def local_run() -> tuple[Any, Oracle]:
        oracle = Oracle(LocalTransport(victim, output_mode=mode, class_names=data.class_names))
        return attack.run(oracle, budget=budget, random_state=7), oracle

    info = Oracle(LocalTransport(victim, output_mode=mode, class_names=data.class_names)).info
    budget = LEARNING_BUDGET if cls.takes_pool else max(attack.min_queries(info), BUDGET)
    before = snapshot(attack)
    first, oracle = local_run()
    assert same(snapshot(attack), before), f"{name} kept state from its run"
    assert 0 < first.queries <= budget
    assert oracle.queries == first.queries  # every row sent is counted
    assert first.params == attack.to_dict() and first.attack == name

    again, _ = local_run()  # reproducible from its seed
    X = data.X_test[:200]
    assert again.queries == first.queries
    assert np.array_equal(again.model.predict(X), first.model.predict(X))

    # the same attack through the gateway, in-process: same rows, charged to the key
    policy = Policy(tiers={"default": Tier("default", key_limits=("1000000/day",), output=mode)})
    gateway = Gateway(
        [ServedModel("victim", victim, data.class_names)], policy=policy, store=Store(tmp_path / "gw.db")
    )
    key = gateway.store.create_key("thief")
    transport = GatewayTransport(gateway, key, "victim")
    through = attack.run(Oracle(transport), budget=budget, random_state=7)
    assert 0 < through.queries <= budget
    assert gateway.store.client("thief").rows == through.queries
    if transport.describe().accepts_missing == info.accepts_missing:  # the same API, published alike
        assert through.queries == first.queries
        assert np.array_equal(through.model.predict(X), first.model.predict(X))
    else:  # a gateway answers incomplete rows for trees: the attack may take them (path finding)
        local = LocalTransport(
            victim, output_mode=mode, class_names=data.class_names, accepts_missing=not info.accepts_missing
        )
        alike = attack.run(Oracle(local), budget=budget, random_state=7)
        assert through.queries == alike.queries
        assert np.array_equal(through.model.predict(X), alike.model.predict(X))
