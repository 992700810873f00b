"""The attacker's side of a prediction API: oracle, answers, output modes, transports."""

from modelsteal.oracle.answers import Answers, OutputMode, apply_output_mode
from modelsteal.oracle.info import ModelInfo
from modelsteal.oracle.oracle import Oracle
from modelsteal.oracle.transports import LocalTransport, Transport

__all__ = [
    "Answers",
    "LocalTransport",
    "ModelInfo",
    "Oracle",
    "OutputMode",
    "Transport",
    "apply_output_mode",
]
