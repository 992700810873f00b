"""What every answer-side transform is: a class with ``apply`` (and ``bind`` when it needs the model).

Kept apart from the registry (``defenses/transforms.py``) so that transforms in modules
of their own (prediction poisoning, misinformation) and the registry can import it.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.params import Configurable

FloatArray = NDArray[np.float64]
#: probabilities are clipped to this before a logarithm
FLOOR = 1e-300


def row_seeds(secret: str, key: str, X: FloatArray) -> list[int]:
    """One 64-bit seed per row from (secret, API key, the row's float64 bytes)."""
    prefix = hashlib.sha256(f"{secret}\0{key}\0".encode()).digest()
    rows = np.ascontiguousarray(X, dtype=np.float64)
    return [int.from_bytes(hashlib.sha256(prefix + row.tobytes()).digest()[:8], "little") for row in rows]


def normalised(P: FloatArray) -> FloatArray:
    return np.asarray(P / P.sum(axis=1, keepdims=True))


def check_number(
    where: str, label: str, value: Any, *, low: float, high: float = np.inf, open_low: bool = False
) -> float:
    """``value`` as a float in [low, high] (or (low, high] with ``open_low``), else a clear refusal."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)
    if ok:
        ok = (value > low if open_low else value >= low) and value <= high
    if not ok:
        bound = f"> {low:g}" if open_low else f">= {low:g}"
        if np.isfinite(high):
            bound = f"in ({low:g}, {high:g}]" if open_low else f"in [{low:g}, {high:g}]"
        raise InvalidInput(f"{where}: {label} must be a number {bound}, not {value!r}")
    return float(value)


class Transform(Configurable, ABC):
    """Changes what a client sees; ``apply`` takes the model's probabilities for a batch.

    Parameters are ``__init__``'s keyword arguments, kept under their own names
    (:class:`~modelsteal.params.Configurable`); secrets are named in ``_secret_params``.

    A transform that needs the served model (a surrogate of its architecture, its input
    space) gets it through :meth:`bind`, once per served model, before the first answer.
    """

    name: ClassVar[str]
    #: the top-1 class of every row is kept (honest users lose no label)
    preserves_top1: bool = False
    #: draws keyed noise (answers depend on the API key)
    keyed: bool = False

    @abstractmethod
    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        """What the client holding ``key`` sees for rows ``X`` whose probabilities are ``P``."""

    def params(self) -> dict[str, Any]:
        """The parameters a policy file would hold for this transform (secrets left out)."""
        return self.public_params()

    def bind(self, victim: Any) -> Transform:
        """This transform ready to answer for ``victim`` (itself when it needs no model)."""
        return self

    def to_dict(self) -> dict[str, Any]:
        return {self.name: self.params()}
