"""scikit-learn's parameter contract, for every part that is configured when built.

An attack, a transform, an ownership method: each takes its parameters as keyword
arguments to ``__init__`` and keeps each under the same name, unchanged in meaning. From
that alone :class:`Configurable` derives ``get_params()`` (what rebuilds the part),
``__repr__`` (the parameters that differ from their defaults, the way scikit-learn
prints an estimator) and ``to_dict()`` (what a result or a campaign cell records).

A subclass whose ``__init__`` takes ``**common`` and passes it to its parent gets the
parent's parameters too. Parameters named in ``_secret_params`` are part of
``get_params()`` (the part cannot be rebuilt without them) but never printed or recorded.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

#: a printed value longer than this is cut (a pool of rows is no parameter to read)
REPR_WIDTH = 80


def _init_parameters(cls: type) -> list[inspect.Parameter]:
    """The keyword parameters of ``cls.__init__``, following ``**kwargs`` up the MRO."""
    found: list[inspect.Parameter] = []
    for klass in cls.__mro__:
        if klass is object:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        forwards = False
        for p in list(inspect.signature(init).parameters.values())[1:]:
            if p.kind is p.VAR_KEYWORD:
                forwards = True
            elif p.kind is not p.VAR_POSITIONAL and all(p.name != q.name for q in found):
                found.append(p)
        if not forwards:
            break
    return found


def short_repr(value: Any) -> str:
    """``repr(value)``, with arrays by their shape and long values cut."""
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    text = repr(value)
    return text if len(text) <= REPR_WIDTH else text[: REPR_WIDTH - 3] + "..."


def jsonable(value: Any) -> Any:
    """``value`` as JSON holds it: numbers, strings, booleans, None, lists and objects of
    those; anything else as its short repr."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple) and len(value) <= REPR_WIDTH:
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return short_repr(value)


class Configurable:
    """``get_params``, ``__repr__`` and ``to_dict`` read from ``__init__``'s signature."""

    #: parameters rebuilt by ``get_params`` but never printed or recorded (secrets)
    _secret_params: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """The names ``__init__`` takes, in order."""
        return tuple(p.name for p in _init_parameters(cls))

    @classmethod
    def required_params(cls) -> tuple[str, ...]:
        """The names ``__init__`` takes without a default."""
        return tuple(p.name for p in _init_parameters(cls) if p.default is p.empty)

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        """The parameters that have a default, with it."""
        return {p.name: p.default for p in _init_parameters(cls) if p.default is not p.empty}

    def get_params(self) -> dict[str, Any]:
        """What rebuilds this part: ``type(self)(**self.get_params())``."""
        missing = [n for n in self.param_names() if not hasattr(self, n)]
        if missing:
            raise TypeError(
                f"{type(self).__name__} does not keep its parameters {missing} under their own "
                "names; store each __init__ argument as an attribute of the same name"
            )
        return {name: getattr(self, name) for name in self.param_names()}

    def public_params(self) -> dict[str, Any]:
        """The parameters a person may read: all but the secrets."""
        return {k: v for k, v in self.get_params().items() if k not in self._secret_params}

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON holds them, for results, cells and reports."""
        return {k: jsonable(v) for k, v in self.public_params().items()}

    def __repr__(self) -> str:
        defaults = self.param_defaults()
        shown = []
        for name, value in self.public_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            if default is inspect.Parameter.empty or not _same(value, default):
                shown.append(f"{name}={short_repr(value)}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, np.ndarray) or isinstance(default, np.ndarray):
        return False
    try:
        return bool(value == default) and type(value) is type(default)
    except (TypeError, ValueError):
        return False
