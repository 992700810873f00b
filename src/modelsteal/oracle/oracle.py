"""The attacker's handle on a prediction API: queries, budget and cost accounting.

One row is one query. A batch that would take the count over the budget raises
:class:`BudgetExhausted` before anything is sent: never a silent partial answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from modelsteal.errors import BatchTooLarge, BudgetExhausted, InvalidInput, RateLimited
from modelsteal.oracle.answers import Answers
from modelsteal.oracle.info import ModelInfo
from modelsteal.oracle.transports import Transport


class Oracle:
    """Counts every row sent through ``transport`` and the money it cost.

    Parameters
    ----------
    transport:
        Where the rows go (in memory, an in-process gateway, or HTTP).
    budget:
        Most rows this oracle may send; ``None`` for no limit.
    max_batch:
        Largest batch sent in one call; bigger batches are split (and counted the same).
    wait_on_rate_limit:
        Sleep out a ``RateLimited`` answer's ``retry_after`` and resend, up to
        ``max_wait`` seconds in all; otherwise the error reaches the caller.
    on_wait, on_sent:
        Called before each wait (seconds, the refusal) and after each answered batch
        (its rows): a person's progress display, or a log.

    An API that says a batch can never fit one request (``BatchTooLarge``: its batch
    limit, or a rate limit smaller than the batch) gets the batch in pieces of the size it
    names, from then on; the rows count the same.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        budget: int | None = None,
        max_batch: int = 1000,
        wait_on_rate_limit: bool = False,
        max_wait: float = 3600.0,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, RateLimited], None] | None = None,
        on_sent: Callable[[int], None] | None = None,
    ) -> None:
        if budget is not None and budget < 0:
            raise InvalidInput("budget must be >= 0")
        if max_batch < 1:
            raise InvalidInput("max_batch must be >= 1")
        self.transport = transport
        self.budget = budget
        self.max_batch = max_batch
        self.wait_on_rate_limit = wait_on_rate_limit
        self.max_wait = max_wait
        self._sleep = sleep
        self.on_wait = on_wait
        self.on_sent = on_sent
        self._parent: Oracle | None = None
        self._info: ModelInfo | None = None
        self.queries = 0
        self.cost = 0.0
        self.requests = 0
        self.waited = 0.0

    # ------------------------------------------------------------------ views
    def limited(self, budget: int) -> Oracle:
        """A view that may send at most ``budget`` more rows; its rows count here too."""
        child = Oracle(self.transport, budget=budget, max_batch=self.max_batch)
        child._parent = self
        child._info = self._info
        return child

    @property
    def info(self) -> ModelInfo:
        if self._info is None:
            self._info = self._parent.info if self._parent else self.transport.describe()
        return self._info

    @property
    def remaining(self) -> int | None:
        own = None if self.budget is None else self.budget - self.queries
        parent = self._parent.remaining if self._parent else None
        if own is None:
            return parent
        return own if parent is None else min(own, parent)

    # ------------------------------------------------------------------ querying
    def query(self, X: ArrayLike) -> Answers:
        """Send ``X`` (rows of the published feature space); return the answers."""
        info = self.info
        arr = info.feature_space.validate(X, what="query", allow_missing=True)
        if not info.accepts_missing and np.isnan(arr).any():
            raise InvalidInput(
                "a query leaves a feature out (NaN), and this API does not answer incomplete queries"
            )
        n = arr.shape[0]
        if n == 0:
            raise InvalidInput("an empty batch: send at least one row")
        remaining = self.remaining
        if remaining is not None and n > remaining:
            used = self.queries
            raise BudgetExhausted(
                f"a batch of {n} rows would exceed the budget: {used} used, {remaining} left",
                used=used,
                budget=self.budget if self.budget is not None else used + remaining,
                asked=n,
            )
        parts: list[Answers] = []
        start = 0
        while start < n:
            size = min(self.max_batch, self._root().max_batch)
            try:
                parts.append(self._send(arr[start : start + size])[0])
            except BatchTooLarge as exc:
                if exc.max_rows >= size:
                    raise  # the API's limit is not about this batch's size
                self._root().max_batch = self.max_batch = exc.max_rows
                continue
            start += size
        return parts[0] if len(parts) == 1 else Answers.concatenate(parts)

    def _root(self) -> Oracle:
        return self if self._parent is None else self._parent._root()

    def _send(self, X: np.ndarray) -> tuple[Answers, float]:
        """Send one batch through the parents (each counts it) to the transport."""
        answers, cost = self._parent._send(X) if self._parent is not None else self._send_with_retry(X)
        self.queries += X.shape[0]
        self.cost += cost
        self.requests += 1
        if self.on_sent is not None:
            self.on_sent(X.shape[0])
        return answers, cost

    def _send_with_retry(self, X: np.ndarray) -> tuple[Answers, float]:
        while True:
            try:
                return self.transport.send(X)
            except RateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 1.0
                if not self.wait_on_rate_limit or self.waited + wait > self.max_wait:
                    raise
                if self.on_wait is not None:
                    self.on_wait(wait, exc)
                self._sleep(wait)
                self.waited += wait
