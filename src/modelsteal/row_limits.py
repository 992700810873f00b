"""The text of a row limit (``1000/hour``, ``10000 per day``), shared by policies and detectors.

Kept apart from the gateway so that ``defenses`` (throttle limits) and ``gateway`` (tiers)
both read it without importing each other.
"""

from __future__ import annotations

import re

from modelsteal.errors import InvalidInput

_LIMIT = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day|month|year)s?\s*$")


def check_limit(text: str) -> str:
    """A limit like ``1000/hour`` or ``10000 per day`` (counted in rows)."""
    if not isinstance(text, str) or not _LIMIT.match(text):
        raise InvalidInput(f"bad limit {text!r}: write it as N/PERIOD, e.g. 1000/hour or 10000/day")
    return text.strip()
