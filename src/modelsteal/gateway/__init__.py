"""The defended prediction API: policy, limits, store, pipeline, HTTP app.

Names are imported on first use: ``modelsteal keys`` needs the store, not FastAPI or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelsteal.gateway.app import create_app
    from modelsteal.gateway.limiter import RowLimiter
    from modelsteal.gateway.policy import Policy, Tier
    from modelsteal.gateway.service import Gateway, GatewayError, ServedModel
    from modelsteal.gateway.store import Store

_WHERE = {
    "create_app": "app",
    "RowLimiter": "limiter",
    "Policy": "policy",
    "Tier": "policy",
    "Gateway": "service",
    "GatewayError": "service",
    "ServedModel": "service",
    "Store": "store",
}

__all__ = [
    "Gateway",
    "GatewayError",
    "Policy",
    "RowLimiter",
    "ServedModel",
    "Store",
    "Tier",
    "create_app",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
