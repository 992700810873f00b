"""The defended prediction API: policy, limits, store, pipeline, HTTP app."""

from modelsteal.gateway.app import create_app
from modelsteal.gateway.limiter import RowLimiter
from modelsteal.gateway.policy import Policy, Tier
from modelsteal.gateway.service import Gateway, GatewayError, ServedModel
from modelsteal.gateway.store import Store

__all__ = ["Gateway", "GatewayError", "Policy", "RowLimiter", "ServedModel", "Store", "Tier", "create_app"]
