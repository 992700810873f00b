"""Every part modelsteal ships, one row each, loaded only when used.

A row names a part, the module and class that implement it, the one line a person reads
in listings, and, for named presets (``sac-m-labels`` is SAC-m reading labels), the
parameters the name fixes. Reading rows imports nothing heavy, so ``modelsteal --help``,
``modelsteal attacks`` and every table that lists parts start fast; a class is imported
the first time something asks for it (pip's ``commands_dict`` works the same way).

What a part *is* (the families an attack targets, what it reads, whether it takes a
thief's pool) it says on its class; the tables that list parts by such a property are
derived from the classes through these rows, never written out again.

Adding a part is one file and one row here (or :meth:`Registry.register` from outside
the package); its contract test, the CLI, campaigns and the report pick it up.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from modelsteal.errors import InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    """One part: its ``name``, where it lives, what it does."""

    name: str
    module: str
    cls: str
    summary: str
    #: parameters the name fixes (a preset of a more general class)
    preset: Mapping[str, Any] = field(default_factory=dict)

    def load(self) -> type:
        """The class, imported now if it was not yet."""
        loaded: type = getattr(importlib.import_module(self.module), self.cls)
        return loaded


class Registry(Mapping[str, type[T]], Generic[T]):
    """The rows of one kind of part; as a mapping, name → class, loading on access."""

    def __init__(self, kind: str, base: str, rows: list[Row]) -> None:
        self.kind = kind
        #: ``module:Class`` every part of this kind derives from (checked when loaded)
        self.base = base
        self._rows: dict[str, Row] = {}
        for row in rows:
            self.register(row)

    def register(self, row: Row) -> None:
        """Add a part: after this, the CLI, campaigns and contract tests know it."""
        if row.name in self._rows:
            raise ValueError(f"{self.kind} {row.name!r} is registered already")
        self._rows[row.name] = row

    def unregister(self, name: str) -> None:
        self._rows.pop(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._rows)

    def rows(self) -> tuple[Row, ...]:
        return tuple(self._rows.values())

    def row(self, name: str) -> Row:
        try:
            return self._rows[name]
        except KeyError:
            raise InvalidInput(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self._rows)}"
            ) from None

    def __getitem__(self, name: str) -> type[T]:
        if name not in self._rows:
            raise KeyError(name)
        loaded = self._rows[name].load()
        module, _, cls = self.base.partition(":")
        base = getattr(importlib.import_module(module), cls)
        if not issubclass(loaded, base):
            raise TypeError(f"{self.kind} {name!r} ({loaded.__name__}) is not a {cls}")
        return loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def make(self, name: str, **params: Any) -> T:
        """The part registered as ``name``, built with its preset and ``params``."""
        row = self.row(name)
        clash = sorted(set(row.preset) & set(params))
        if clash:
            raise InvalidInput(f"{self.kind} {name!r} fixes {', '.join(clash)}; leave it out")
        try:
            return self[name](**row.preset, **params)
        except TypeError as exc:
            raise InvalidInput(f"{name}: {exc}") from None


def _rows(module: str, *rows: tuple[str, str, str] | tuple[str, str, str, dict[str, Any]]) -> list[Row]:
    return [Row(r[0], f"modelsteal.{module}", r[1], r[2], *r[3:]) for r in rows]


ATTACKS: Registry[Any] = Registry(
    "attack",
    "modelsteal.attacks.base:ExtractionAttack",
    [
        *_rows(
            "attacks.published_family",
            (
                "equation-solving",
                "EquationSolving",
                "Tramèr et al. 2016's equation solving for the family the API publishes.",
            ),
        ),
        *_rows(
            "attacks.equation_solving",
            (
                "eq-logistic",
                "LogisticEquationSolving",
                "Binary logistic regression from d+1 probability answers (Tramèr et al. 2016, §4.1.1).",
            ),
            (
                "eq-softmax",
                "SoftmaxEquationSolving",
                "Multinomial logistic regression from d+1 probability answers (after Tramèr et al. 2016, §4.1.2).",
            ),
            (
                "eq-ovr",
                "OvREquationSolving",
                "One-vs-rest logistic regression by non-linear least squares (Tramèr et al. 2016, §4.1.2).",
            ),
        ),
        *_rows(
            "attacks.mlp_extraction",
            (
                "eq-mlp",
                "MLPEquationSolving",
                "Steal a one-hidden-layer MLP from probability answers; the activation picks the method.",
            ),
        ),
        *_rows(
            "attacks.feature_extraction",
            (
                "eq-binned",
                "BinnedEquationSolving",
                "A logistic model behind quantile binning: line searches for the bins, then equations (§5).",
            ),
        ),
        *_rows(
            "attacks.label_only",
            (
                "lowd-meek",
                "LowdMeek",
                "Binary linear classifiers from labels: one line search per feature (Lowd and Meek 2005).",
            ),
            (
                "retrain-uniform",
                "RetrainUniform",
                "Retraining on uniformly drawn points (Tramèr et al. 2016, §6.2).",
            ),
            (
                "retrain-linesearch",
                "RetrainLineSearch",
                "Retraining on uniform points plus points placed on the boundary by bisection (§6.2).",
            ),
            (
                "retrain-adaptive",
                "RetrainAdaptive",
                "Rounds of the least certain candidates plus uniform points, retraining each round (§6.2).",
            ),
        ),
        *_rows(
            "attacks.path_finding",
            (
                "path-finding",
                "PathFinding",
                "Steal a decision tree by finding the path to every leaf (Tramèr et al. 2016, Alg. 1).",
            ),
        ),
        *_rows(
            "attacks.learning",
            ("knockoff", "KnockoffNets", "Knockoff Nets (Orekondy, Schiele and Fritz, CVPR 2019)."),
            (
                "copycat",
                "Copycat",
                "Copycat CNN (Correia-Silva et al., IJCNN 2018): label random data with the API's top-1.",
            ),
            (
                "jacobian",
                "JacobianAugmentation",
                "Jacobian-based dataset augmentation (Papernot et al., AsiaCCS 2017).",
            ),
            ("active", "ActiveLearning", "Active learning after ActiveThief (Pal et al., AAAI 2020)."),
            (
                "semi-supervised",
                "SemiSupervised",
                "Semi-supervised extraction after Jagielski et al. (USENIX Security 2020).",
            ),
        ),
    ],
)

TRANSFORMS: Registry[Any] = Registry(
    "transform",
    "modelsteal.defenses.transform_base:Transform",
    [
        *_rows(
            "defenses.transforms",
            ("noise", "LogitNoise", "Noise on the log-probabilities, keyed per (API key, input)."),
            ("reverse_sigmoid", "ReverseSigmoid", "Reverse sigmoid (Lee et al. 2019), top-1 preserving."),
        ),
        *_rows(
            "defenses.poisoning",
            ("mad", "PredictionPoisoning", "MAD prediction poisoning (Orekondy et al. 2020)."),
        ),
        *_rows(
            "defenses.misinformation",
            (
                "adaptive_misinformation",
                "AdaptiveMisinformation",
                "Adaptive misinformation (Kariyappa and Qureshi 2020) for inputs the model doubts.",
            ),
        ),
        *_rows(
            "defenses.api_watermark",
            ("dawn", "ApiWatermark", "DAWN (Szyller et al. 2021): wrong labels on a keyed share of queries."),
        ),
    ],
)

DETECTORS: Registry[Any] = Registry(
    "detector",
    "modelsteal.defenses.detectors:Detector",
    _rows(
        "defenses.detectors",
        (
            "prada",
            "Prada",
            "PRADA (Juuti et al. 2019): distances between a key's queries stop looking normal.",
        ),
        ("unique_share", "UniqueShare", "A key whose rows are almost all distinct."),
        (
            "narrow_range",
            "NarrowRange",
            "Rows that differ from earlier ones in a few features (line searches).",
        ),
        ("boundary", "BoundaryProbing", "Rows the model is unsure of, far more often than honest traffic."),
        ("single_class", "SingleClass", "Confident answers of a few classes only."),
        ("coverage", "Coverage", "How much of the input space a key's rows cover (hashed cells)."),
    ),
)

_SAC_M = "SAC-m (Guan et al. 2022): correlation of answers on CutMix samples"
_SAC_W = "SAC-w (Guan et al. 2022): answers on the owner's misclassified public rows"
_DI = "Dataset inference (Maini et al. 2021) through a black-box API"
OWNERSHIP_METHODS: Registry[Any] = Registry(
    "ownership method",
    "modelsteal.ownership.base:OwnershipMethod",
    [
        *_rows(
            "ownership.fingerprints",
            ("sac-m", "SampleCorrelation", f"{_SAC_M}, probabilities.", {"answers": "probabilities"}),
            ("sac-m-labels", "SampleCorrelation", f"{_SAC_M}, labels.", {"answers": "labels"}),
            (
                "sac-m-tempered",
                "SampleCorrelation",
                f"{_SAC_M}, probabilities at the owner's temperature.",
                {"answers": "probabilities", "temperature": "fitted"},
            ),
            (
                "sac-m-relative",
                "SampleCorrelation",
                f"{_SAC_M}, probabilities, relative to the independents.",
                {"answers": "probabilities", "relative": True},
            ),
            (
                "sac-m-relative-labels",
                "SampleCorrelation",
                f"{_SAC_M}, labels, relative to the independents.",
                {"answers": "labels", "relative": True},
            ),
            ("sac-w", "MistakeCorrelation", f"{_SAC_W}, probabilities.", {"answers": "probabilities"}),
            ("sac-w-labels", "MistakeCorrelation", f"{_SAC_W}, labels.", {"answers": "labels"}),
            (
                "sac-w-tempered",
                "MistakeCorrelation",
                f"{_SAC_W}, probabilities at the owner's temperature.",
                {"answers": "probabilities", "temperature": "fitted"},
            ),
        ),
        *_rows(
            "ownership.dataset_inference",
            ("dataset-inference", "DatasetInference", f"{_DI}, labels.", {"answers": "labels"}),
            (
                "dataset-inference-proba",
                "DatasetInference",
                f"{_DI}, probabilities.",
                {"answers": "probabilities"},
            ),
            (
                "dataset-inference-mingd",
                "MinGDInference",
                "Dataset inference with MinGD, white-box (Maini et al. 2021).",
            ),
        ),
        *_rows(
            "ownership.conferrable",
            ("cae", "ConferrableExamples", "Conferrable adversarial examples (Lukas et al. 2021)."),
        ),
        *_rows(
            "ownership.api_watermark",
            (
                "dawn",
                "DawnVerification",
                "DAWN verification (Szyller et al. 2021): labels on watermarked inputs.",
            ),
            (
                "watermark",
                "TriggerWatermark",
                "A trigger-set watermark embedded at training (Adi et al. 2018).",
            ),
        ),
    ],
)

#: every kind, for the contract tests and ``modelsteal parts``
KINDS: dict[str, Registry[Any]] = {
    "attack": ATTACKS,
    "transform": TRANSFORMS,
    "detector": DETECTORS,
    "ownership method": OWNERSHIP_METHODS,
}
