"""modelsteal: attack, defend and prove ownership of models served through prediction APIs."""

from modelsteal.errors import (
    BudgetExhausted,
    InvalidInput,
    ModelStealError,
    RateLimited,
    Refused,
    UnsupportedOracle,
)

__version__ = "0.1.0"

__all__ = [
    "BudgetExhausted",
    "InvalidInput",
    "ModelStealError",
    "RateLimited",
    "Refused",
    "UnsupportedOracle",
    "__version__",
]
