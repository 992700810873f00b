"""Stolen models: scikit-learn estimators rebuilt from what an API answered."""

from modelsteal.stolen.linear import StolenLinearModel
from modelsteal.stolen.mlp import StolenMLP

__all__ = ["StolenLinearModel", "StolenMLP"]
