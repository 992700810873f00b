"""The attack interface: configured when built, given the oracle when run.

Subclasses write only ``_extract`` (the algorithm) and, where it applies,
``min_queries``. The final :meth:`ExtractionAttack.run` validates, enforces the budget,
times the run, evaluates and records the fidelity-versus-queries history.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, final

import numpy as np

from modelsteal.errors import InvalidInput, UnsupportedOracle
from modelsteal.metrics.fidelity import Comparison, EvalSet, ProbabilisticClassifier, compare
from modelsteal.oracle.info import ModelInfo
from modelsteal.oracle.oracle import Oracle
from modelsteal.params import Configurable
from modelsteal.random import RandomState, check_random_state

#: what an attack reads from an answer (``ExtractionAttack.reads``)
Reads = Literal["probabilities", "confidences", "labels", "any"]


@dataclass(frozen=True)
class HistoryPoint:
    """Fidelity reached after ``queries`` rows, ``seconds`` into the run."""

    queries: int
    fidelity_test: float
    fidelity_uniform: float
    tv_test: float
    seconds: float = 0.0


@dataclass
class AttackContext:
    """What ``_extract`` works with: the budgeted oracle, the published info, a seeded RNG."""

    oracle: Oracle
    info: ModelInfo
    rng: np.random.Generator
    eval_set: EvalSet | None = None
    history: list[HistoryPoint] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @property
    def budget_left(self) -> int:
        left = self.oracle.remaining
        if left is None:
            raise RuntimeError("attacks always run under a budget")
        return left

    def checkpoint(self, model: ProbabilisticClassifier) -> None:
        """Record the model's fidelity at the current query count (when judged on an eval set)."""
        if self.eval_set is None:
            return
        judging_from = time.perf_counter()
        c = compare(model, self.eval_set)
        elapsed = judging_from - self.started
        self.history.append(
            HistoryPoint(self.oracle.queries, c.fidelity_test, c.fidelity_uniform, c.tv_test, elapsed)
        )
        # judging the copy is the evaluator's work, not the attacker's: keep it off the clock
        self.started += time.perf_counter() - judging_from


@dataclass(frozen=True)
class ExtractionResult:
    """The stolen model and what stealing it took."""

    attack: str
    model: Any
    queries: int
    cost: float
    seconds: float
    budget: int
    history: list[HistoryPoint]
    comparison: Comparison | None
    notes: dict[str, Any]
    #: the attack's parameters (``ExtractionAttack.to_dict()``), so a result says how it was run
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "attack": self.attack,
            "queries": self.queries,
            "budget": self.budget,
            "cost": self.cost,
            "seconds": round(self.seconds, 4),
        }
        if self.comparison is not None:
            out.update(self.comparison.to_dict())
        out.update({k: v for k, v in self.notes.items() if isinstance(v, str | int | float | bool)})
        return out


class ExtractionAttack(Configurable, ABC):
    """Base class of every extraction attack.

    Hyperparameters go to ``__init__`` as keyword-only arguments, each kept under its own
    name (``get_params``, ``__repr__`` and ``to_dict`` come from :class:`Configurable`).
    An attack keeps nothing between runs: what a run learns lives in its context.
    """

    name: ClassVar[str] = "attack"
    #: What the attack reads from an answer: ``probabilities`` (full vectors; equation
    #: solving), ``confidences`` (anything past the label that tells leaves apart),
    #: ``labels`` (the top-1 label, whatever else the API shows), or ``any`` (probabilities
    #: when the API gives them, labels otherwise).
    reads: ClassVar[Reads] = "any"
    #: The model families it steals; empty: any family, judged by the fidelity it reaches.
    targets: ClassVar[tuple[str, ...]] = ()
    #: It learns from a thief's pool of natural rows (``pool=``; the CLI's ``--pool``).
    takes_pool: ClassVar[bool] = False
    #: The values its ``strategy_param`` takes (the CLI's ``--strategy`` is a short-hand for it).
    strategies: ClassVar[tuple[str, ...]] = ()
    strategy_param: ClassVar[str] = "strategy"

    @classmethod
    def needs_probabilities(cls) -> bool:
        """The attack cannot work from anything less than probability vectors."""
        return cls.reads == "probabilities"

    def min_queries(self, info: ModelInfo) -> int:
        """The fewest rows the attack can work with against this model."""
        return 1

    def check_oracle(self, info: ModelInfo) -> None:
        """Refuse an oracle whose outputs the attack cannot use."""
        if self.needs_probabilities() and not info.output_mode.gives_probabilities:
            raise UnsupportedOracle(
                f"{self.name} needs probability vectors, but this API answers with "
                f"{info.output_mode.describe()}; query with an API key whose output mode gives "
                "probabilities, or choose an attack that works from labels"
            )

    @final
    def run(
        self,
        oracle: Oracle,
        *,
        budget: int,
        random_state: RandomState = None,
        eval_set: EvalSet | None = None,
    ) -> ExtractionResult:
        """Steal the model behind ``oracle`` with at most ``budget`` queries."""
        if isinstance(budget, bool) or not isinstance(budget, int | np.integer):
            raise InvalidInput(f"budget must be a whole number of queries, not {budget!r}")
        info = oracle.info
        self.check_oracle(info)
        minimum = self.min_queries(info)
        if budget < minimum:
            raise InvalidInput(
                f"{self.name} needs at least {minimum} queries against this model; the budget is {budget}"
            )
        view = oracle.limited(int(budget))
        ctx = AttackContext(view, info, check_random_state(random_state), eval_set)
        before = getattr(oracle.transport, "work", None)  # proofs of work the API asked for
        work_before = (before.seconds, before.puzzles) if before is not None else (0.0, 0)
        model = self._extract(ctx)
        seconds = time.perf_counter() - ctx.started
        after = getattr(oracle.transport, "work", None)
        if after is not None and after.puzzles > work_before[1]:
            ctx.notes["work_seconds"] = after.seconds - work_before[0]
            ctx.notes["work_puzzles"] = after.puzzles - work_before[1]
        comparison = compare(model, eval_set) if eval_set is not None else None
        if comparison is not None and (not ctx.history or ctx.history[-1].queries != view.queries):
            ctx.history.append(
                HistoryPoint(
                    view.queries,
                    comparison.fidelity_test,
                    comparison.fidelity_uniform,
                    comparison.tv_test,
                    seconds,
                )
            )
        return ExtractionResult(
            attack=self.name,
            model=model,
            queries=view.queries,
            cost=view.cost,
            seconds=seconds,
            budget=int(budget),
            history=ctx.history,
            comparison=comparison,
            notes=ctx.notes,
            params=self.to_dict(),
        )

    @abstractmethod
    def _extract(self, ctx: AttackContext) -> Any:
        """The algorithm: query ``ctx.oracle`` and return a fitted stolen model."""
