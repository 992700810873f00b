"""Honest traffic: benign API clients, to measure what detectors cost honest users.

Each benign client reads natural inputs (rows of a real data set) in their natural order
from a random starting point, as an application classifying what arrives; it re-sends an
earlier input with probability ``repeat`` (retries, refreshed pages, popular items), and
it sends small batches (1 to ``max_batch`` rows). Some clients keep to a few classes
for a while (a user filing one kind of document); every client has its own address in its
own /24 and a key created at a random moment in the last ``history_days`` days.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.random import RandomState, check_random_state


@dataclass(frozen=True)
class BenignClient:
    """One honest client's whole query sequence and how it sends it."""

    name: str
    ip: str
    created: float
    rows: NDArray[np.float64]
    batches: tuple[int, ...]
    repeat: float
    style: str

    def batched(self) -> Iterator[NDArray[np.float64]]:
        start = 0
        for size in self.batches:
            yield self.rows[start : start + size]
            start += size


def benign_clients(
    X: NDArray[np.float64],
    y: NDArray[np.int64] | None = None,
    *,
    n_clients: int = 20,
    queries: int = 1000,
    repeat: tuple[float, float] = (0.15, 0.4),
    max_batch: int = 20,
    history_days: float = 60.0,
    now: float = 0.0,
    prefix: str = "benign",
    random_state: RandomState = 0,
) -> list[BenignClient]:
    """``n_clients`` honest clients of ``queries`` rows each, drawn from natural rows ``X``."""
    if X.shape[0] < 2 or n_clients < 1 or queries < 1:
        raise InvalidInput("need at least two natural rows, one client and one query")
    if not 0.0 <= repeat[0] <= repeat[1] < 1.0:
        raise InvalidInput("repeat is a range of probabilities in [0, 1)")
    rng = check_random_state(random_state)
    clients = []
    for i in range(n_clients):
        p = float(rng.uniform(*repeat))
        style = "one-topic" if (y is not None and i % 4 == 3) else "natural-order"
        order = np.arange(X.shape[0])
        if style == "one-topic" and y is not None:
            # a few classes at a time: the rows sorted by class, a random window of them
            order = np.argsort(y, kind="stable")
        start = int(rng.integers(X.shape[0]))
        picked: list[int] = []
        cursor = start
        for _ in range(queries):
            if picked and rng.random() < p:
                picked.append(picked[int(rng.integers(len(picked)))])
            else:
                picked.append(int(order[cursor % order.size]))
                cursor += 1
        sizes: list[int] = []
        left = queries
        while left > 0:
            size = min(left, int(rng.integers(1, max_batch + 1)))
            sizes.append(size)
            left -= size
        clients.append(
            BenignClient(
                name=f"{prefix}-{i:02d}",
                ip=f"10.{(i // 200) % 250}.{i % 200}.{int(rng.integers(2, 250))}",
                created=now - float(rng.uniform(1.0, history_days)) * 86400.0,
                rows=X[np.asarray(picked)],
                batches=tuple(sizes),
                repeat=p,
                style=style,
            )
        )
    return clients
