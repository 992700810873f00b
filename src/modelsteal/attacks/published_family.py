"""Equation solving for whichever family the API publishes: one name for four attacks."""

from __future__ import annotations

from typing import Any, ClassVar

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.attacks.equation_solving import (
    LogisticEquationSolving,
    OvREquationSolving,
    SoftmaxEquationSolving,
)
from modelsteal.attacks.mlp_extraction import MLPEquationSolving
from modelsteal.errors import InvalidInput
from modelsteal.oracle.info import ModelInfo


class EquationSolving(ExtractionAttack):
    """Tramèr et al. 2016's equation solving for the family the API publishes.

    MLaaS platforms publish a model's family; ``family`` overrides or supplies it
    (``logreg``, ``softmax``, ``ovr``, ``mlp``). Other keyword arguments go to the
    family's attack (``activation`` and ``hidden`` for MLPs).
    """

    name = "equation-solving"
    reads = "probabilities"
    targets = ("logreg", "softmax", "ovr", "mlp")
    FAMILIES: ClassVar[dict[str, type[ExtractionAttack]]] = {
        "logreg": LogisticEquationSolving,
        "softmax": SoftmaxEquationSolving,
        "ovr": OvREquationSolving,
        "mlp": MLPEquationSolving,
    }

    def __init__(self, *, family: str | None = None, **options: Any) -> None:
        if family is not None and family not in self.FAMILIES:
            raise InvalidInput(
                f"equation solving has no method for family {family!r}; it steals {', '.join(self.FAMILIES)}"
            )
        self.family = family
        self.options = options

    @classmethod
    def param_names(cls) -> tuple[str, ...]:
        """``family``, and every parameter of the attacks it hands the work to."""
        names = ["family"]
        for attack in cls.FAMILIES.values():
            names += [n for n in attack.param_names() if n not in names]
        return tuple(names)

    def get_params(self) -> dict[str, Any]:
        return {"family": self.family, **self.options}

    def _delegate(self, info: ModelInfo) -> ExtractionAttack:
        family = self.family or info.family
        if family is None:
            raise InvalidInput(
                "the API does not publish the model family; pass --family (logreg, softmax, ovr, mlp)"
            )
        attack_cls = self.FAMILIES.get(family)
        if attack_cls is None:
            raise InvalidInput(
                f"equation solving cannot steal a {family!r} model; it steals {', '.join(self.FAMILIES)} "
                "(trees: path-finding; others: retraining attacks)"
            )
        options = dict(self.options)
        if attack_cls is not MLPEquationSolving:
            options.pop("activation", None)
            options.pop("hidden", None)
        return attack_cls(**options)

    def min_queries(self, info: ModelInfo) -> int:
        return self._delegate(info).min_queries(info)

    def check_oracle(self, info: ModelInfo) -> None:
        self._delegate(info).check_oracle(info)

    def _extract(self, ctx: AttackContext) -> Any:
        delegate = self._delegate(ctx.info)
        ctx.notes["method"] = delegate.name
        return delegate._extract(ctx)
