"""Steal a model from a model directory: the path shared by the CLI, the demo and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.attacks.base import ExtractionResult
from modelsteal.attacks.registry import make_attack
from modelsteal.datasets import dataset_names, load_dataset
from modelsteal.datasets.thief import ThiefPool, make_pool, patches_pool, split_for_theft, uniform_pool
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.metrics.fidelity import DEFAULT_N_UNIFORM, EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.victims.model_dir import ModelDir, load_model_dir


def eval_set_for(model_dir: ModelDir, *, n_uniform: int = DEFAULT_N_UNIFORM, seed: int = 0) -> EvalSet:
    """The directory's evaluation split plus ``n_uniform`` uniform points, with the victim's answers."""
    return EvalSet.build(
        model_dir.victim,
        model_dir.X_eval,
        model_dir.y_eval,
        model_dir.feature_space,
        n_uniform=n_uniform,
        random_state=seed,
    )


def local_oracle(model_dir: ModelDir, *, output_mode: OutputMode | None = None, price: float = 0.0) -> Oracle:
    transport = LocalTransport(
        model_dir.victim,
        output_mode=output_mode,
        price_per_query=price,
        name=str(model_dir.card.get("name", model_dir.path.name)),
        class_names=tuple(model_dir.card["classes"]),
    )
    return Oracle(transport)


def thief_pool(
    kind: str,
    space: FeatureSpace,
    *,
    card: dict[str, Any] | None = None,
    csv: str | Path | None = None,
    n: int = 2000,
    seed: int = 0,
) -> ThiefPool:
    """The attacker's pool for a learning attack.

    ``csv``: the attacker's own rows (a CSV file whose columns are the published features).
    ``in-distribution``: the training rows the victim never saw when it was trained with
    ``modelsteal train --victim-rows N``; otherwise the victim's own training split (the
    attacker then holds the owner's data, which the pool's description says).
    """
    if csv is not None:
        import pandas as pd

        frame = pd.read_csv(csv)
        missing = [c for c in space.names if c not in frame.columns]
        if missing:
            raise InvalidInput(f"{csv} lacks the published features {', '.join(missing[:5])}")
        return ThiefPool(
            "csv", space.validate(frame[list(space.names)].to_numpy(dtype=np.float64)), None, str(csv)
        )
    if kind in ("patches", "uniform"):
        if kind == "patches":
            return patches_pool(space, n, random_state=seed)
        return uniform_pool(space, n, random_state=seed)
    dataset = (card or {}).get("dataset")
    if dataset not in dataset_names():
        raise InvalidInput(
            f"--pool {kind} needs the victim's bundled data set (a model directory or --eval DIR); "
            "use --pool patches, --pool uniform or --pool-csv FILE"
        )
    data = load_dataset(str(dataset))
    if kind == "in-distribution":
        rows = ((card or {}).get("details") or {}).get("victim_rows")
        if rows is None:
            return ThiefPool(
                "in-distribution",
                data.X_train,
                data.y_train,
                f"the victim's own {data.X_train.shape[0]} training rows (train with --victim-rows to hold some out)",
            )
        return split_for_theft(data, victim_rows=int(rows), random_state=0)[1]
    return make_pool(kind, data, n=n, random_state=seed)


def steal_model_dir(
    path: str | Path,
    attack: str,
    *,
    budget: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    output_mode: OutputMode | None = None,
    n_uniform: int = DEFAULT_N_UNIFORM,
    pool: str | None = None,
    pool_csv: str | Path | None = None,
) -> ExtractionResult:
    """Train nothing, load ``path``, run ``attack`` against it in memory and judge the copy.

    ``pool``/``pool_csv`` give a learning attack its data (see :func:`thief_pool`).
    """
    model_dir = load_model_dir(path)
    options = dict(options or {})
    if pool is not None or pool_csv is not None:
        options["pool"] = thief_pool(
            pool or "csv", model_dir.feature_space, card=model_dir.card, csv=pool_csv, seed=seed
        )
    attacker = make_attack(attack, **options)
    oracle = local_oracle(model_dir, output_mode=output_mode)
    return attacker.run(
        oracle,
        budget=budget,
        random_state=seed,
        eval_set=eval_set_for(model_dir, n_uniform=n_uniform, seed=seed),
    )


def steal_url(
    url: str,
    api_key: str,
    attack: str,
    *,
    budget: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    eval_dir: str | Path | None = None,
    n_uniform: int = DEFAULT_N_UNIFORM,
    wait: bool = False,
    pool: str | None = None,
    pool_csv: str | Path | None = None,
) -> tuple[ExtractionResult, str, str | None]:
    """Run ``attack`` over HTTP against ``url``; judge it on ``eval_dir`` when given."""
    from modelsteal.oracle.http import HTTPTransport

    transport = HTTPTransport(url, api_key)
    try:
        oracle = Oracle(transport, wait_on_rate_limit=wait)
        info = oracle.info
        eval_set = None
        card = None
        if eval_dir is not None:
            judge = load_model_dir(eval_dir)
            card = judge.card
            eval_set = eval_set_for(judge, n_uniform=n_uniform, seed=seed)
        options = dict(options or {})
        if pool is not None or pool_csv is not None:
            options["pool"] = thief_pool(
                pool or "csv", info.feature_space, card=card, csv=pool_csv, seed=seed
            )
        attacker = make_attack(attack, **options)
        result = attacker.run(oracle, budget=budget, random_state=seed, eval_set=eval_set)
    finally:
        transport.close()
    return result, info.name, info.family
