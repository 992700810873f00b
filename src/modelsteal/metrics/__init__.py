"""Fidelity, accuracy, total-variation distance and parameter error."""

from modelsteal.metrics.fidelity import (
    DEFAULT_N_UNIFORM,
    Comparison,
    EvalSet,
    agreement,
    aligned_proba,
    compare,
    tv_distance,
)
from modelsteal.metrics.parameters import (
    LinearParameters,
    linear_parameters,
    max_relative_parameter_error,
)

__all__ = [
    "DEFAULT_N_UNIFORM",
    "Comparison",
    "EvalSet",
    "LinearParameters",
    "agreement",
    "aligned_proba",
    "compare",
    "linear_parameters",
    "max_relative_parameter_error",
    "tv_distance",
]
