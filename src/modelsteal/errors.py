"""One error tree for the whole toolkit.

Every error a user can cause is a :class:`ModelStealError`; its message names the fix.
A message names the parameter at fault in backticks (```hidden` must be at least 1``): the
library's own name, which the CLI turns into its flag (``--hidden``) through one table
(``cli.FLAG_OF``). The CLI prints the message on one line and exits with status 2; the
gateway maps the same classes to HTTP status codes with a stable ``code``.
"""

from __future__ import annotations

from typing import Any


class ModelStealError(Exception):
    """Base class of every error modelsteal raises on purpose."""

    code: str = "error"


class InvalidInput(ModelStealError, ValueError):
    """Input of the wrong shape, type or range (NaN, inf, unknown name, ...)."""

    code = "invalid_input"


class BudgetExhausted(ModelStealError):
    """The oracle would go over its query budget; nothing was sent."""

    code = "budget_exhausted"

    def __init__(self, message: str, *, used: int, budget: int, asked: int) -> None:
        super().__init__(message)
        self.used = used
        self.budget = budget
        self.asked = asked


class RateLimited(ModelStealError):
    """The API refused the batch for now; ``retry_after`` seconds may fix it."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchTooLarge(InvalidInput):
    """The API takes at most ``max_rows`` rows in one request (its batch limit, or a rate
    limit smaller than the batch); the oracle splits the batch and sends the pieces."""

    code = "batch_too_large"

    def __init__(self, message: str, *, max_rows: int, code: str = "batch_too_large") -> None:
        super().__init__(message)
        self.max_rows = max_rows
        self.code = code


class Refused(ModelStealError):
    """The API refused the batch for good (bad key, revoked, blocked, ...)."""

    def __init__(self, message: str, *, code: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class WorkRequired(Refused):
    """The API wants a proof of work (HTTP 428) before it answers; ``challenge`` is the puzzle."""

    def __init__(self, message: str, *, code: str, challenge: dict[str, object]) -> None:
        super().__init__(message, code=code, status=428)
        self.challenge = challenge


class UnsupportedOracle(ModelStealError):
    """An attack was handed an oracle whose outputs it cannot use."""

    code = "unsupported_oracle"


class AttackFailed(ModelStealError):
    """An attack ran within its budget but could not produce a model."""

    code = "attack_failed"


class ModelDirError(ModelStealError):
    """A model directory is missing, incomplete, or was not written by modelsteal."""

    code = "model_dir"


#: Every stable code a modelsteal API refuses a request with, and its HTTP status: the one
#: table the server (``gateway/``), its OpenAPI schema and the clients' mapping
#: (``oracle/wire.raise_for_error``, used by ``HTTPTransport`` and ``GatewayTransport``) share.
#: ``tests/test_first_day.py`` checks every code the source raises against it, and README
#: against it.
REFUSALS: dict[str, int] = {
    **dict.fromkeys(("malformed_json", "bad_http"), 400),
    **dict.fromkeys(("missing_key", "invalid_key", "invalid_admin_key"), 401),
    **dict.fromkeys(("key_revoked", "key_blocked", "unknown_tier", "admin_disabled"), 403),
    **dict.fromkeys(("unknown_model", "unknown_client", "not_found"), 404),
    "method_not_allowed": 405,
    **dict.fromkeys(("batch_too_large", "batch_exceeds_limit", "body_too_large"), 413),
    **dict.fromkeys(
        (
            "invalid_request",
            "empty_batch",
            "wrong_feature_count",
            "not_numeric",
            "not_finite",
            "missing_feature",
            "partly_missing_category",
            "out_of_space",
            "invalid_record",
            "unknown_field",
            "missing_field",
            "unknown_level",
            "not_an_image_model",
            "invalid_base64",
            "invalid_image",
            "image_size",
        ),
        422,
    ),
    **dict.fromkeys(
        (
            "proof_of_work_required",
            "proof_of_work_invalid",
            "proof_of_work_expired",
            "proof_of_work_replayed",
        ),
        428,
    ),
    **dict.fromkeys(("rate_limited", "quota_exceeded"), 429),
    "internal": 500,
    **dict.fromkeys(
        ("upstream_unavailable", "upstream_bad_response", "upstream_refused", "upstream_error"), 502
    ),
    **dict.fromkeys(("limiter_unavailable", "store_unavailable", "upstream_busy"), 503),
    "upstream_timeout": 504,
}


def codes_for(status: int) -> list[str]:
    """The stable codes an API answers with ``status``."""
    return [code for code, s in REFUSALS.items() if s == status]


def status_of(code: str) -> int:
    """The HTTP status of a refusal ``code``: the one place a status comes from."""
    try:
        return REFUSALS[code]
    except KeyError:
        raise ValueError(
            f"{code!r} is not a refusal code; add it to errors.REFUSALS with its status"
        ) from None


class APIRefusal(ModelStealError):
    """A refusal an API answers with: a stable ``code`` (its HTTP status comes from
    :data:`REFUSALS`), a message naming the fix, and ``Retry-After``, ``max_rows`` or any
    ``extra`` fields (a proof-of-work challenge) for the client.

    No constructor takes a status: a code unknown to the table is a programming error,
    raised where the refusal is built.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        max_rows: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status_of(code)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.max_rows = max_rows
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON body every refusal is answered with."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.retry_after is not None:
            error["retry_after"] = self.retry_after
        if self.max_rows is not None:
            error["max_rows"] = self.max_rows
        error.update(self.extra)
        return {"error": error}
