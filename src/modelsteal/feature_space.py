"""The input space of a model: what an API publishes about the features it accepts.

Attacks draw queries from it, ``fidelity_uniform`` (Tramèr's 1 - R_unif) draws its
uniform points from it, and the gateway checks requests against it.

A model sees a numeric vector of ``n_features`` columns. Continuous columns have bounds;
a categorical feature is a group of one-hot columns of which exactly one is 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelsteal.errors import InvalidInput
from modelsteal.random import RandomState, check_random_state

FloatArray = NDArray[np.float64]


class RecordError(InvalidInput):
    """A row given as an object could not be encoded; ``code`` names what was wrong."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _level_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Any, name: str, i: int, what: str) -> float:
    if isinstance(value, bool):
        raise RecordError("not_numeric", f"{what} {i}: {name!r} is {value!r}; it takes a number")
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise RecordError(
                "not_numeric", f"{what} {i}: {name!r} is {value!r}; it takes a number"
            ) from None
    if not np.isfinite(number):
        raise RecordError("not_finite", f"{what} {i}: {name!r} is {value!r}; send a finite number")
    return number


@dataclass(frozen=True)
class CategoricalGroup:
    """A categorical feature, one-hot encoded into ``columns`` (one per level)."""

    name: str
    levels: tuple[str, ...]
    columns: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.levels) != len(self.columns):
            raise InvalidInput(
                f"categorical feature {self.name!r}: {len(self.levels)} levels "
                f"but {len(self.columns)} columns"
            )
        if len(self.levels) < 1:
            raise InvalidInput(f"categorical feature {self.name!r} has no levels")


@dataclass(frozen=True)
class FeatureSpace:
    """Names, bounds and structure of the columns a model takes.

    Parameters
    ----------
    names:
        One name per column, after one-hot encoding.
    lower, upper:
        Per-column bounds (one-hot columns are bounded by 0 and 1).
    categorical:
        One-hot groups; uniform sampling sets exactly one column of each group to 1.
    image_shape:
        For images, the shape one row reshapes to, e.g. ``(8, 8)``; ``None`` for tables.
    """

    names: tuple[str, ...]
    lower: FloatArray
    upper: FloatArray
    categorical: tuple[CategoricalGroup, ...] = ()
    image_shape: tuple[int, ...] | None = None
    _categorical_mask: NDArray[np.bool_] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lower = np.asarray(self.lower, dtype=np.float64).reshape(-1)
        upper = np.asarray(self.upper, dtype=np.float64).reshape(-1)
        d = len(self.names)
        if lower.shape != (d,) or upper.shape != (d,):
            raise InvalidInput(f"feature space: {d} names but bounds of shape {lower.shape}")
        if not (np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
            raise InvalidInput("feature space bounds must be finite")
        if np.any(upper < lower):
            raise InvalidInput("feature space: an upper bound is below its lower bound")
        mask = np.zeros(d, dtype=bool)
        for group in self.categorical:
            for col in group.columns:
                if not 0 <= col < d or mask[col]:
                    raise InvalidInput(f"categorical feature {group.name!r}: bad column {col}")
                mask[col] = True
        if self.image_shape is not None and int(np.prod(self.image_shape)) != d:
            raise InvalidInput(f"image shape {self.image_shape} does not hold {d} features")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "_categorical_mask", mask)

    # ------------------------------------------------------------------ construction
    @classmethod
    def box(
        cls,
        lower: ArrayLike,
        upper: ArrayLike,
        names: Sequence[str] | None = None,
        image_shape: tuple[int, ...] | None = None,
    ) -> FeatureSpace:
        """A space of continuous features only, within ``[lower, upper]``."""
        lo = np.asarray(lower, dtype=np.float64).reshape(-1)
        hi = np.asarray(upper, dtype=np.float64).reshape(-1)
        if lo.shape != hi.shape:
            raise InvalidInput("lower and upper bounds differ in length")
        if names is None:
            names = [f"x{i}" for i in range(lo.size)]
        return cls(tuple(names), lo, hi, (), image_shape)

    @classmethod
    def from_data(cls, X: ArrayLike, names: Sequence[str] | None = None, margin: float = 0.0) -> FeatureSpace:
        """Bounds taken from the data's per-column minimum and maximum."""
        arr = np.asarray(X, dtype=np.float64)
        lo, hi = arr.min(axis=0), arr.max(axis=0)
        pad = margin * (hi - lo)
        return cls.box(lo - pad, hi + pad, names)

    # ------------------------------------------------------------------ properties
    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def continuous_columns(self) -> NDArray[np.intp]:
        return np.flatnonzero(~self._categorical_mask)

    @property
    def is_image(self) -> bool:
        return self.image_shape is not None

    @property
    def n_free_parameters(self) -> int:
        """Dimension of the affine hull of the space: columns minus one per one-hot group."""
        return self.n_features - len(self.categorical)

    # ------------------------------------------------------------------ sampling
    def sample_uniform(self, n: int, random_state: RandomState = None) -> FloatArray:
        """``n`` points uniform in the box; each one-hot group gets one level at random."""
        if n < 0:
            raise InvalidInput("cannot sample a negative number of points")
        rng = check_random_state(random_state)
        X = rng.uniform(self.lower, self.upper, size=(n, self.n_features))
        for group in self.categorical:
            cols = np.asarray(group.columns)
            X[:, cols] = 0.0
            pick = rng.integers(0, len(cols), size=n)
            X[np.arange(n), cols[pick]] = 1.0
        return X

    def center(self) -> FloatArray:
        """The middle of the box; one-hot groups take their first level."""
        x = (self.lower + self.upper) / 2.0
        for group in self.categorical:
            x[list(group.columns)] = 0.0
            x[group.columns[0]] = 1.0
        return x

    # ------------------------------------------------------------------ checking
    def validate(self, X: ArrayLike, *, what: str = "X", allow_missing: bool = False) -> FloatArray:
        """Return ``X`` as a 2-D float array of the right width, or raise ``InvalidInput``.

        With ``allow_missing``, NaN marks a missing feature (an incomplete query); a one-hot
        group is then missing as a whole or not at all.
        """
        try:
            arr = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{what} must be numeric: {exc}") from None
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2:
            raise InvalidInput(f"{what} must be a 2-D array of rows; got {arr.ndim} dimensions")
        if arr.shape[1] != self.n_features:
            raise InvalidInput(
                f"{what} has {arr.shape[1]} features per row; the model takes {self.n_features}"
            )
        if allow_missing:
            if np.any(np.isinf(arr)):
                raise InvalidInput(f"{what} contains inf; send finite numbers (NaN for a missing feature)")
            for group in self.categorical:
                nan = np.isnan(arr[:, list(group.columns)])
                if np.any(nan.any(axis=1) & ~nan.all(axis=1)):
                    raise InvalidInput(
                        f"{what}: categorical feature {group.name!r} is partly missing; "
                        "leave out all of its one-hot columns or none"
                    )
        elif not np.all(np.isfinite(arr)):
            raise InvalidInput(f"{what} contains NaN or inf; send finite numbers")
        return arr

    def contains(self, X: FloatArray, tol: float = 1e-9) -> NDArray[np.bool_]:
        """Per row: inside the bounds and every one-hot group holds exactly one 1.

        Missing features (NaN, a one-hot group wholly NaN) count as inside.
        """
        span = np.maximum(self.upper - self.lower, 1.0)
        missing = np.isnan(X)
        ok = (tol * span >= self.lower - X) & (X - self.upper <= tol * span)
        inside = np.all(ok | missing, axis=1)
        for group in self.categorical:
            cols = list(group.columns)
            block = X[:, cols]
            onehot = np.all(np.isclose(block, 0.0) | np.isclose(block, 1.0), axis=1)
            inside &= (onehot & np.isclose(block.sum(axis=1), 1.0)) | missing[:, cols].all(axis=1)
        return np.asarray(inside)

    def clip(self, X: FloatArray) -> FloatArray:
        return np.clip(X, self.lower, self.upper)

    # ------------------------------------------------------------------ raw records
    def raw_fields(self) -> list[tuple[str, CategoricalGroup | int]]:
        """The columns as a person wrote them before one-hot encoding, in order: a
        continuous column's index, or a categorical feature's group."""
        group_of = {g.columns[0]: g for g in self.categorical}
        fields: list[tuple[str, CategoricalGroup | int]] = []
        for col in range(self.n_features):
            if col in group_of:
                fields.append((group_of[col].name, group_of[col]))
            elif not self._categorical_mask[col]:
                fields.append((self.names[col], col))
        return fields

    def encode_records(
        self,
        records: Sequence[Any],
        *,
        allow_missing: bool = False,
        ignore: Sequence[str] = (),
        what: str = "row",
    ) -> FloatArray:
        """Rows given as objects of original column names and values (``{"age": 30, "city":
        "Boston"}``) as the model's numeric rows: text values one-hot encoded by the levels the
        model was trained on. ``None`` is a missing value (NaN) where ``allow_missing``."""
        fields = self.raw_fields()
        known = {name for name, _ in fields}
        skip = set(ignore)
        X = np.zeros((len(records), self.n_features))
        for i, record in enumerate(records):
            if not isinstance(record, dict):
                raise RecordError(
                    "invalid_record",
                    f"{what} {i} is {type(record).__name__}; send an object of column values",
                )
            unknown = [k for k in record if k not in known and k not in skip]
            if unknown:
                raise RecordError(
                    "unknown_field",
                    f"{what} {i} has field {unknown[0]!r}, which the model does not take; "
                    f"its fields are: {', '.join(sorted(known))}",
                )
            for name, where in fields:
                if name not in record:
                    raise RecordError("missing_field", f"{what} {i} lacks field {name!r}")
                value = record[name]
                if value is None or (isinstance(value, float) and value != value):
                    if not allow_missing:
                        raise RecordError(
                            "missing_feature",
                            f"{what} {i}: {name!r} is missing; send a value for every field",
                        )
                    cols = list(where.columns) if isinstance(where, CategoricalGroup) else [where]
                    X[i, cols] = np.nan
                    continue
                if isinstance(where, CategoricalGroup):
                    text = _level_text(value)
                    if text not in where.levels:
                        shown = ", ".join(where.levels[:10]) + (" ..." if len(where.levels) > 10 else "")
                        raise RecordError(
                            "unknown_level",
                            f"{what} {i}: {name!r} is {value!r}, a value the model never saw; it knows: {shown}",
                        )
                    X[i, where.columns[where.levels.index(text)]] = 1.0
                else:
                    X[i, where] = _number(value, name, i, what)
        return X

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "categorical": [
                {"name": g.name, "levels": list(g.levels), "columns": list(g.columns)}
                for g in self.categorical
            ],
            "image_shape": list(self.image_shape) if self.image_shape else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpace:
        try:
            groups = tuple(
                CategoricalGroup(str(g["name"]), tuple(g["levels"]), tuple(int(c) for c in g["columns"]))
                for g in data.get("categorical", [])
            )
            shape = data.get("image_shape")
            return cls(
                tuple(str(n) for n in data["names"]),
                np.asarray(data["lower"], dtype=np.float64),
                np.asarray(data["upper"], dtype=np.float64),
                groups,
                tuple(int(s) for s in shape) if shape else None,
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(f"not a feature space description: {exc}") from None
