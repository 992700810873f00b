"""Rate limits and quotas counted in rows, on the ``limits`` library's storage.

A batch is admitted whole or refused whole: every limit that applies (per key, per
address; hourly, daily, ...) is charged the batch's row count atomically; if one would go
over, the charges already made are taken back and the caller gets how long to wait.
Memory storage serves one process; ``redis://`` storage lets several gateway processes
share one budget per key.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage, storage_from_string

from modelsteal.errors import InvalidInput


@dataclass(frozen=True)
class Refusal:
    """Which limit refused, and when to try again.

    ``never`` is set when the batch is larger than the limit itself: waiting cannot help,
    only a smaller batch (at most ``capacity`` rows) can.
    """

    limit: str
    scope: str
    retry_after: float
    capacity: int = 0
    never: bool = False


class LimiterUnavailable(Exception):
    """The shared storage (Redis) did not answer; the gateway answers 503."""


class RowLimiter:
    """Charges batches of rows against fixed-window limits."""

    def __init__(self, storage_uri: str = "memory://") -> None:
        self.uri = storage_uri
        try:
            self.storage = cast(Storage, storage_from_string(storage_uri))
        except Exception as exc:  # the library raises several types for bad URIs
            raise InvalidInput(f"cannot use rate-limit storage {storage_uri!r}: {exc}") from None
        self._items: dict[str, RateLimitItem] = {}

    def item(self, text: str) -> RateLimitItem:
        if text not in self._items:
            self._items[text] = parse(text)
        return self._items[text]

    def acquire(self, checks: list[tuple[str, str, str]], rows: int) -> Refusal | None:
        """Charge ``rows`` to every (limit, scope, identity); ``None`` when admitted.

        ``scope`` names the kind of identity (``key`` or ``ip``) for the refusal message.
        """
        for text, scope, _ in checks:
            item = self.item(text)
            if rows > item.amount:
                return Refusal(text, scope, 0.0, capacity=int(item.amount), never=True)
        taken: list[tuple[str, int]] = []
        try:
            for text, scope, ident in checks:
                item = self.item(text)
                key = item.key_for(scope, ident)
                count = self.storage.incr(key, item.get_expiry(), amount=rows)
                taken.append((key, item.get_expiry()))
                if count > item.amount:
                    for k, expiry in taken:
                        self.storage.incr(k, expiry, amount=-rows)
                    reset = self.storage.get_expiry(key)
                    return Refusal(
                        text, scope, float(max(1, math.ceil(reset - time.time()))), int(item.amount)
                    )
        except Exception as exc:  # redis raises its own ConnectionError, TimeoutError, ...
            if isinstance(self.storage, MemoryStorage):
                raise
            raise LimiterUnavailable(f"rate-limit storage {self.uri} did not answer: {exc}") from None
        return None

    def release(self, checks: list[tuple[str, str, str]], rows: int) -> None:
        """Give back ``rows`` taken by :meth:`acquire` (the model failed: nothing is charged)."""
        try:
            for text, scope, ident in checks:
                item = self.item(text)
                self.storage.incr(item.key_for(scope, ident), item.get_expiry(), amount=-rows)
        except Exception as exc:
            if isinstance(self.storage, MemoryStorage):
                raise
            raise LimiterUnavailable(f"rate-limit storage {self.uri} did not answer: {exc}") from None

    def check(self) -> None:
        """Raise ``LimiterUnavailable`` unless the storage answers (``serve`` checks at start)."""
        try:
            ok = self.storage.check()
        except Exception as exc:
            raise LimiterUnavailable(f"rate-limit storage {self.uri} did not answer: {exc}") from None
        if not ok:
            raise LimiterUnavailable(f"rate-limit storage {self.uri} did not answer")

    def remaining(self, text: str, scope: str, ident: str) -> int:
        item = self.item(text)
        try:
            used = self.storage.get(item.key_for(scope, ident))
        except Exception as exc:
            if isinstance(self.storage, MemoryStorage):
                raise
            raise LimiterUnavailable(f"rate-limit storage {self.uri} did not answer: {exc}") from None
        return max(0, item.amount - used)

    def reset(self) -> None:
        self.storage.reset()
