"""Rate limits and quotas counted in rows, on the ``limits`` library's storage.

A batch is admitted whole or refused whole: every limit that applies (per key, per
address; hourly, daily, ...) is charged the batch's row count atomically; if one would go
over, the charges already made are taken back and the caller gets how long to wait.
Memory storage serves one process; ``redis://`` storage lets several gateway processes
share one budget per key.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string

from modelsteal.errors import InvalidInput


@dataclass(frozen=True)
class Refusal:
    """Which limit refused, and when to try again."""

    limit: str
    scope: str
    retry_after: float


class RowLimiter:
    """Charges batches of rows against fixed-window limits."""

    def __init__(self, storage_uri: str = "memory://") -> None:
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
        taken: list[tuple[str, int]] = []
        for text, scope, ident in checks:
            item = self.item(text)
            key = item.key_for(scope, ident)
            count = self.storage.incr(key, item.get_expiry(), amount=rows)
            taken.append((key, item.get_expiry()))
            if count > item.amount:
                for k, expiry in taken:
                    self.storage.incr(k, expiry, amount=-rows)
                reset = self.storage.get_expiry(key)
                return Refusal(text, scope, max(1.0, reset - time.time()))
        return None

    def remaining(self, text: str, scope: str, ident: str) -> int:
        item = self.item(text)
        return max(0, item.amount - self.storage.get(item.key_for(scope, ident)))

    def reset(self) -> None:
        self.storage.reset()
