"""The gateway's refusal: an HTTP status, a stable code and a message, charged nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelsteal.errors import ModelStealError
from modelsteal.gateway.limiter import Refusal

if TYPE_CHECKING:
    from modelsteal.gateway.policy import Policy
    from modelsteal.gateway.store import Client


class GatewayError(ModelStealError):
    """A refusal: HTTP status, stable code, message, and ``Retry-After`` for 429."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        max_rows: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.max_rows = max_rows
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": {"code": self.code, "message": self.message}}
        if self.retry_after is not None:
            out["error"]["retry_after"] = self.retry_after
        if self.max_rows is not None:
            out["error"]["max_rows"] = self.max_rows
        out["error"].update(self.extra)
        return out


def unknown_tier(client: Client, policy: Policy) -> GatewayError:
    return GatewayError(
        403,
        "unknown_tier",
        f"this key's tier {client.tier!r} is not in the server's policy (it has: "
        f"{', '.join(policy.tiers)}); ask the operator to add the tier",
    )


def limit_refusal(refusal: Refusal, n: int) -> GatewayError:
    """The answer to a batch a limit refused: 413 when it can never fit, else 429 with Retry-After."""
    if refusal.never:
        return GatewayError(
            413,
            "batch_exceeds_limit",
            f"a batch of {n} rows can never fit the {refusal.scope} limit of {refusal.limit} rows; "
            f"send at most {refusal.capacity} rows per request",
            max_rows=refusal.capacity,
        )
    windowed = any(unit in refusal.limit for unit in ("second", "minute", "hour"))
    return GatewayError(
        429,
        "rate_limited" if windowed else "quota_exceeded",
        f"{n} rows would exceed the {refusal.scope} limit of {refusal.limit} rows; "
        f"retry after {refusal.retry_after:.0f} s",
        retry_after=refusal.retry_after,
    )
