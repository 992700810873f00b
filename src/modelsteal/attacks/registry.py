"""Attack names for the CLI and configuration files: a plain mapping, no dotted strings."""

from __future__ import annotations

from typing import Any, ClassVar

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.attacks.equation_solving import (
    LogisticEquationSolving,
    OvREquationSolving,
    SoftmaxEquationSolving,
)
from modelsteal.attacks.feature_extraction import BinnedEquationSolving
from modelsteal.attacks.label_only import LowdMeek, RetrainAdaptive, RetrainLineSearch, RetrainUniform
from modelsteal.attacks.learning import (
    ActiveLearning,
    Copycat,
    JacobianAugmentation,
    KnockoffNets,
    LearningAttack,
    SemiSupervised,
)
from modelsteal.attacks.mlp_extraction import MLPEquationSolving
from modelsteal.attacks.path_finding import PathFinding
from modelsteal.errors import InvalidInput
from modelsteal.oracle.info import ModelInfo


class EquationSolving(ExtractionAttack):
    """Tramèr et al. 2016's equation solving for the family the API publishes.

    MLaaS platforms publish a model's family; ``family`` overrides or supplies it
    (``logreg``, ``softmax``, ``ovr``, ``mlp``). Other keyword arguments go to the
    family's attack (``activation`` and ``hidden`` for MLPs).
    """

    name = "equation-solving"
    needs_probabilities: ClassVar[bool] = True
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


ATTACKS: dict[str, type[ExtractionAttack]] = {
    cls.name: cls
    for cls in (
        EquationSolving,
        LogisticEquationSolving,
        SoftmaxEquationSolving,
        OvREquationSolving,
        MLPEquationSolving,
        BinnedEquationSolving,
        LowdMeek,
        RetrainUniform,
        RetrainLineSearch,
        RetrainAdaptive,
        PathFinding,
        KnockoffNets,
        Copycat,
        JacobianAugmentation,
        ActiveLearning,
        SemiSupervised,
    )
}


LEARNING_NAMES: tuple[str, ...] = tuple(
    name for name, cls in ATTACKS.items() if issubclass(cls, LearningAttack)
)


def attack_names() -> list[str]:
    return list(ATTACKS)


def make_attack(name: str, **options: Any) -> ExtractionAttack:
    """An attack by its name, with keyword hyperparameters."""
    cls = ATTACKS.get(name)
    if cls is None:
        raise InvalidInput(f"unknown attack {name!r}; choose one of: {', '.join(ATTACKS)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise InvalidInput(f"{name}: {exc}") from None
