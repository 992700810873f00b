"""Transports carry a batch to a model and its answers back, like httpx's transports.

Attacks never know which one the oracle holds: ``LocalTransport`` calls a victim in
memory (no defences); the gateway and HTTP transports live beside their servers.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers, OutputMode, victim_answers
from modelsteal.oracle.info import ModelInfo
from modelsteal.victims.base import Victim


class Transport(Protocol):
    """Sends rows to a model; returns its answers and what they cost."""

    def describe(self) -> ModelInfo: ...

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]: ...

    def close(self) -> None: ...


class LocalTransport:
    """A victim in memory, answered in ``output_mode`` at ``price_per_query`` per row."""

    def __init__(
        self,
        victim: Victim,
        *,
        output_mode: OutputMode | None = None,
        price_per_query: float = 0.0,
        name: str = "local",
        class_names: tuple[str, ...] | None = None,
        publish_family: bool = True,
        accepts_missing: bool | None = None,
    ) -> None:
        self.victim = victim
        self.output_mode = output_mode or OutputMode()
        self.price_per_query = float(price_per_query)
        classes = class_names or tuple(str(c) for c in victim.classes_)
        self._info = ModelInfo(
            name=name,
            classes=classes,
            feature_space=victim.feature_space,
            family=victim.family if publish_family else None,
            details=dict(victim.details) if publish_family else {},
            output_mode=self.output_mode,
            price_per_query=self.price_per_query,
            accepts_missing=(
                bool(getattr(victim, "supports_missing", False))
                if accepts_missing is None
                else accepts_missing
            ),
        )

    def describe(self) -> ModelInfo:
        return self._info

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]:
        return victim_answers(self.victim, X, self.output_mode), self.price_per_query * X.shape[0]

    def close(self) -> None:
        return None


class SplitTransport:
    """Spreads batches over several transports in turn: one thief behind many API keys.

    Batches larger than ``chunk`` rows are cut, so every key sends about the same share.
    """

    def __init__(self, transports: list[Any], *, chunk: int = 10) -> None:
        if not transports:
            raise InvalidInput("SplitTransport needs at least one transport")
        if chunk < 1:
            raise InvalidInput("chunk must be >= 1")
        self.transports = transports
        self.chunk = chunk
        self._next = 0

    def describe(self) -> ModelInfo:
        info: ModelInfo = self.transports[0].describe()
        return info

    @property
    def work(self) -> Any:
        """The proofs of work all the keys paid for (None when no API asked for any)."""
        from modelsteal.oracle.work import WorkMeter

        meters = [m for m in (getattr(t, "work", None) for t in self.transports) if m is not None]
        if not meters:
            return None
        return WorkMeter(
            sum(m.seconds for m in meters), sum(m.hashes for m in meters), sum(m.puzzles for m in meters)
        )

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]:
        parts: list[Answers] = []
        cost = 0.0
        for start in range(0, X.shape[0], self.chunk):
            transport = self.transports[self._next]
            self._next = (self._next + 1) % len(self.transports)
            answers, c = transport.send(X[start : start + self.chunk])
            parts.append(answers)
            cost += c
        return (parts[0] if len(parts) == 1 else Answers.concatenate(parts)), cost

    def close(self) -> None:
        for t in self.transports:
            t.close()
