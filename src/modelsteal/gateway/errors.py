"""The gateway's refusal: a stable code (its HTTP status from ``errors.REFUSALS``) and a
message, charged nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelsteal.errors import APIRefusal
from modelsteal.gateway.limiter import Refusal

if TYPE_CHECKING:
    from modelsteal.gateway.policy import Policy
    from modelsteal.gateway.store import Client


class GatewayError(APIRefusal):
    """A refusal the gateway answers: stable code, message, and ``Retry-After`` for 429."""


def unknown_tier(client: Client, policy: Policy) -> GatewayError:
    return GatewayError(
        "unknown_tier",
        f"this key's tier {client.tier!r} is not in the server's policy (it has: "
        f"{', '.join(policy.tiers)}); ask the operator to add the tier",
    )


def limit_refusal(refusal: Refusal, n: int) -> GatewayError:
    """The answer to a batch a limit refused: 413 when it can never fit, else 429 with Retry-After."""
    if refusal.never:
        return GatewayError(
            "batch_exceeds_limit",
            f"a batch of {n} rows can never fit the {refusal.scope} limit of {refusal.limit} rows; "
            f"send at most {refusal.capacity} rows per request",
            max_rows=refusal.capacity,
        )
    windowed = any(unit in refusal.limit for unit in ("second", "minute", "hour"))
    return GatewayError(
        "rate_limited" if windowed else "quota_exceeded",
        f"{n} rows would exceed the {refusal.scope} limit of {refusal.limit} rows; "
        f"retry after {refusal.retry_after:.0f} s",
        retry_after=refusal.retry_after,
    )
