"""Steal a model from a model directory: the path shared by the CLI, the demo and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelsteal.attacks.base import ExtractionResult
from modelsteal.attacks.registry import make_attack
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


def steal_model_dir(
    path: str | Path,
    attack: str,
    *,
    budget: int,
    seed: int = 0,
    options: dict[str, Any] | None = None,
    output_mode: OutputMode | None = None,
    n_uniform: int = DEFAULT_N_UNIFORM,
) -> ExtractionResult:
    """Train nothing, load ``path``, run ``attack`` against it in memory and judge the copy."""
    model_dir = load_model_dir(path)
    attacker = make_attack(attack, **(options or {}))
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
) -> tuple[ExtractionResult, str, str | None]:
    """Run ``attack`` over HTTP against ``url``; judge it on ``eval_dir`` when given."""
    from modelsteal.oracle.http import HTTPTransport

    transport = HTTPTransport(url, api_key)
    try:
        oracle = Oracle(transport, wait_on_rate_limit=wait)
        info = oracle.info
        eval_set = None
        if eval_dir is not None:
            eval_set = eval_set_for(load_model_dir(eval_dir), n_uniform=n_uniform, seed=seed)
        attacker = make_attack(attack, **(options or {}))
        result = attacker.run(oracle, budget=budget, random_state=seed, eval_set=eval_set)
    finally:
        transport.close()
    return result, info.name, info.family
