"""What a tier's answer-side defences cost honest users and leave thieves: ``modelsteal defend-eval``.

For a model directory and one tier of a policy, :func:`evaluate_tier` measures

* honest users, on the directory's evaluation split: the mean total-variation distance
  between the defended and the plain answers, the share of labels kept, the expected
  calibration error (ECE) before and after, and the transforms' own CPU per row;
* thieves, each attack at each budget, once against the plain model and once against the
  defended one (the tier's transforms and output mode): test fidelity, the TV distance of
  the copy's probabilities, the copy's accuracy, and the smallest budget that reached 90%
  fidelity; with ``aware``, also the thief who inverts a published reverse sigmoid.

Guards (limits, proof of work) and detectors are not played here: they act on the traffic,
not on the answers; ``bench/proof_of_work.py`` and ``bench/detection.py`` measure them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.attacks import make_attack
from modelsteal.attacks.defence_aware import InvertingTransport
from modelsteal.defenses.transforms import Transform, protect
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.registry import ATTACKS

FloatArray = NDArray[np.float64]
#: fidelity a budget must reach to count as "enough queries"
TARGET_FIDELITY = 0.9


def ece(P: FloatArray, y: NDArray[np.int64], bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence (``bins`` equal-width bins)."""
    conf, pred = P.max(axis=1), P.argmax(axis=1)
    total = 0.0
    for lo, hi in itertools.pairwise(np.linspace(0.0, 1.0, bins + 1)):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += float(inside.mean()) * abs(
                float(np.mean(pred[inside] == y[inside])) - float(conf[inside].mean())
            )
    return total


@dataclass(frozen=True)
class HonestCost:
    """What the defence costs the users it is not aimed at."""

    tv: float
    labels_kept: float
    ece_plain: float
    ece_defended: float
    us_per_row: float


def honest_cost(
    victim: Any, transforms: Sequence[Transform], X: FloatArray, y: NDArray[np.int64]
) -> HonestCost:
    """Honest users' loss on rows ``X`` (labels ``y``) when ``victim`` answers through ``transforms``."""
    defended = protect(victim, list(transforms), key="honest")
    plain = np.asarray(victim.predict_proba(X), dtype=np.float64)
    if defended.transforms:
        defended.transforms[0].apply(plain[:2], X[:2], "warm-up")  # first-call set-up is not per row
    started = time.process_time()
    shown = plain
    for transform in defended.transforms:
        shown = transform.apply(shown, X, "honest")
    per_row = 1e6 * (time.process_time() - started) / max(X.shape[0], 1)
    return HonestCost(
        tv=float(0.5 * np.abs(shown - plain).sum(axis=1).mean()),
        labels_kept=float(np.mean(shown.argmax(axis=1) == plain.argmax(axis=1))),
        ece_plain=ece(plain, y),
        ece_defended=ece(shown, y),
        us_per_row=per_row,
    )


def describe_options(options: dict[str, Any]) -> str:
    """An attack's options as text (the pool left out): tells two runs of one attack apart."""
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if k != "pool")


@dataclass(frozen=True)
class TheftCell:
    """One attack at one budget against the plain and the defended API."""

    attack: str
    options: str
    budget: int
    thief: str  # "naive" or "inverting"
    fidelity_plain: float
    fidelity_defended: float
    tv_defended: float
    accuracy_defended: float | None
    #: queries sent against the defended API, and against the plain one
    queries: int
    queries_plain: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def queries_to_target(
    cells: Sequence[TheftCell], attack: str, thief: str, *, defended: bool, options: str | None = None
) -> int | None:
    """The fewest queries with which ``attack`` reached :data:`TARGET_FIDELITY`, if it did
    (queries sent, not the budget: equation solving stops at what it needs)."""
    reached = [
        c.queries if defended else c.queries_plain
        for c in cells
        if c.attack == attack
        and c.thief == thief
        and (options is None or c.options == options)
        and (c.fidelity_defended if defended else c.fidelity_plain) >= TARGET_FIDELITY
    ]
    return min(reached) if reached else None


def evaluate_tier(
    model_dir: Any,
    transforms: Sequence[Transform],
    output: Any,
    *,
    attacks: Sequence[tuple[str, dict[str, Any]]],
    budgets: Sequence[int],
    eval_set: Any,
    seed: int = 0,
    aware: bool = False,
    on_cell: Callable[[str], None] | None = None,
    plain_runs: dict[tuple[str, str, int], Any] | None = None,
) -> tuple[HonestCost, list[TheftCell]]:
    """Honest cost and thieves' results for ``transforms`` and ``output`` on ``model_dir``'s victim.

    ``plain_runs`` keeps the thieves' runs against the plain model between calls (several
    tiers on one model with one output mode need them once).
    """
    victim = model_dir.victim
    names = tuple(model_dir.card["classes"])
    transforms = [t.bind(victim) for t in transforms]
    honest = honest_cost(victim, transforms, model_dir.X_eval, model_dir.y_eval)
    specs = [t.to_dict() for t in transforms]
    # the inverting thief needs probabilities to invert, and a published reverse sigmoid
    invertible = (
        aware and len(specs) == 1 and "reverse_sigmoid" in specs[0] and output.kind == "probabilities"
    )
    defended_victim = protect(victim, list(transforms), key="thief")

    def run(attack: str, options: dict[str, Any], budget: int, target: Any, inverting: bool = False) -> Any:
        transport: Any = LocalTransport(target, output_mode=output, class_names=names)
        if inverting:
            transport = InvertingTransport(transport, specs[0])
        result = make_attack(attack, **options).run(
            Oracle(transport), budget=budget, random_state=seed, eval_set=eval_set
        )
        if on_cell is not None:
            on_cell(f"{attack} at {budget}{' (inverting)' if inverting else ''}")
        return result

    cells: list[TheftCell] = []
    for (attack, options), budget in itertools.product(attacks, budgets):
        key = (attack, describe_options(options), budget)
        plain = plain_runs.get(key) if plain_runs is not None else None
        if plain is None:
            plain = run(attack, options, budget, victim)
            if plain_runs is not None:
                plain_runs[key] = plain
        thieves = [("naive", run(attack, options, budget, defended_victim))]
        # an attack that reads top-1 labels whatever the API shows leaves nothing to invert
        if invertible and ATTACKS[attack].reads != "labels":
            thieves.append(("inverting", run(attack, options, budget, defended_victim, inverting=True)))
        for thief, result in thieves:
            assert plain.comparison is not None and result.comparison is not None
            cells.append(
                TheftCell(
                    attack=attack,
                    options=describe_options(options),
                    budget=budget,
                    thief=thief,
                    fidelity_plain=plain.comparison.fidelity_test,
                    fidelity_defended=result.comparison.fidelity_test,
                    tv_defended=result.comparison.tv_test,
                    accuracy_defended=result.comparison.accuracy_stolen,
                    queries=result.queries,
                    queries_plain=plain.queries,
                )
            )
    return honest, cells
