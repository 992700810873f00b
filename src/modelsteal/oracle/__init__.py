"""The attacker's side of a prediction API: oracle, answers, output modes, transports.

Names are imported on first use, so a light command (``modelsteal keys``) that needs
only ``Answers`` does not pay for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelsteal.oracle.answers import Answers, OutputMode, apply_output_mode
    from modelsteal.oracle.http import HTTPTransport
    from modelsteal.oracle.info import ModelInfo
    from modelsteal.oracle.oracle import Oracle
    from modelsteal.oracle.transports import LocalTransport, SplitTransport, Transport

_WHERE = {
    "Answers": "answers",
    "OutputMode": "answers",
    "apply_output_mode": "answers",
    "HTTPTransport": "http",
    "ModelInfo": "info",
    "Oracle": "oracle",
    "LocalTransport": "transports",
    "SplitTransport": "transports",
    "Transport": "transports",
}

__all__ = [
    "Answers",
    "HTTPTransport",
    "LocalTransport",
    "ModelInfo",
    "Oracle",
    "OutputMode",
    "SplitTransport",
    "Transport",
    "apply_output_mode",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
