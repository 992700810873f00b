"""One ownership test: a method's statistic on a suspect, judged against independent models.

A method (a fingerprint, a watermark, dataset inference) is configured when built and
given the owner's model when run, as attacks are: :meth:`OwnershipMethod.prepare` builds
the **evidence** from the owner's side (the queries to send and what the owner's model
answers; nothing is kept on the method), :meth:`OwnershipMethod.score` turns a suspect's
answers into the statistic. The final :meth:`OwnershipMethod.verify` does the rest for
every method alike: it queries the suspect through an :class:`~modelsteal.oracle.Oracle`
(so a model directory, an ONNX file and a remote API are all the same to it), counts the
queries and seconds, and turns the statistic into a p-value against the null measured on
independent models (``null.py``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle import Oracle
from modelsteal.oracle.answers import Answers
from modelsteal.ownership.null import Mode, NullDistribution, Tail
from modelsteal.params import Configurable
from modelsteal.random import RandomState

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Owner:
    """What the owner holds: its model, rows of its data a method may draw on, its watermark.

    Build it from a model directory with :func:`owner_of`.

    ``X_public`` are rows the owner may show anyone (its test split), ``y_public`` their true
    labels when known (SAC-w needs them to find the model's mistakes); ``X_private`` its
    training rows (dataset inference needs them; a fingerprint does not); ``X_pool`` and
    ``y_pool`` labelled rows it kept apart (conferrable examples train models on them).
    """

    victim: Any
    classes: tuple[str, ...]
    X_public: FloatArray
    y_public: NDArray[np.int64] | None = None
    X_private: FloatArray | None = None
    y_private: NDArray[np.int64] | None = None
    #: a trigger-set watermark embedded at training (inputs, labels), kept by the owner
    watermark: tuple[FloatArray, NDArray[np.int64]] | None = None
    #: how the triggers were made (``trigger``, ``margin``, ``ewe``), from the card
    watermark_kind: str | None = None
    #: labelled rows the owner kept apart from training (``pool.npz``): CAE trains on them
    X_pool: FloatArray | None = None
    y_pool: NDArray[np.int64] | None = None

    @property
    def feature_space(self) -> FeatureSpace:
        space: FeatureSpace = self.victim.feature_space
        return space


@dataclass(frozen=True)
class Evidence:
    """The owner's side of a test: the queries and what the method needs to score answers."""

    method: str
    X: FloatArray
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def queries(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class Verdict:
    """The outcome of one ownership test."""

    method: str
    statistic: float
    p_value: float
    empirical_p: float
    alpha: float
    mode: Mode
    stolen: bool
    queries: int
    seconds: float
    independents: int
    false_accusation_rate: float
    #: what a method adds (a watermark's matches per API key, say)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class OwnershipMethod(Configurable, ABC):
    """Turns a suspect's answers to the owner's queries into a statistic (see the module doc).

    Parameters are ``__init__``'s keyword arguments, kept under their own names
    (:class:`~modelsteal.params.Configurable`: ``get_params``, ``__repr__``, ``to_dict``).
    """

    #: registry name
    name: ClassVar[str]
    #: where copies lie: a low statistic (a distance) or a high one (a match rate)
    tail: ClassVar[Tail]
    #: what the suspect must answer with: ``labels`` (any API) or ``probabilities``
    needs: ClassVar[Literal["labels", "probabilities"]]
    #: a campaign cell may verify its copy with it: the method needs only what a campaign's
    #: owner directory holds (public rows, pool, watermark) and the copy's answers; not the
    #: owner's private rows (dataset inference), an API's watermark store (DAWN), white-box
    #: access (MinGD) or minutes of training (CAE)
    campaign_ready: ClassVar[bool] = False

    @abstractmethod
    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        """The owner's side: the queries, and what scoring them needs."""

    @abstractmethod
    def score(self, evidence: Evidence, answers: Answers) -> float:
        """The statistic of a suspect whose answers to ``evidence.X`` are ``answers``."""

    def calibrate(self, evidence: Evidence, independents: Sequence[Answers]) -> None:
        """Called by ``null_distribution`` with every independent's answers before any is
        scored: a statistic relative to the independents (``sac-m-relative``) keeps what it
        needs in ``evidence.data``. By default nothing."""
        return None

    def share_of(self, evidence: Evidence) -> int | None:
        """When the statistic is a share of answers (a match rate), of how many: its null is
        then fitted on the logit scale (``null.py``). ``None``: any other statistic."""
        return None

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        """The p-value of ``statistic`` and any details; by default from the null (``null.py``).
        A method with an exact test (a watermark's binomial) overrides this."""
        return null.p(statistic, mode), {}

    def ask(self, evidence: Evidence, oracle: Oracle) -> Answers:
        """The suspect's answers to the evidence's queries, checked to be what the method reads."""
        if evidence.method != self.name:
            raise InvalidInput(f"this evidence was made by {evidence.method}, not {self.name}")
        return self._read(evidence, oracle)

    def _read(self, evidence: Evidence, oracle: Oracle) -> Answers:
        """What the suspect answers; by default its answers to the evidence's queries. A
        white-box method (MinGD) reads the suspect's model instead of querying it."""
        info = oracle.info
        if self.needs == "probabilities" and info.output_mode.kind != "probabilities":
            raise InvalidInput(
                f"{self.name} needs probabilities and the suspect answers with {info.output_mode.kind}: "
                "use the method's label variant"
            )
        return oracle.query(evidence.X)

    def statistic(self, evidence: Evidence, oracle: Oracle) -> float:
        """Query the suspect behind ``oracle`` with the evidence and score its answers."""
        return float(self.score(evidence, self.ask(evidence, oracle)))

    def verify(
        self,
        evidence: Evidence,
        suspect: Oracle,
        null: NullDistribution,
        *,
        alpha: float = 0.01,
        mode: Mode = "t",
    ) -> Verdict:
        """Is the suspect behind ``suspect`` a copy? The p-value, the verdict at ``alpha``, the cost."""
        if not 0.0 < alpha < 1.0:
            raise InvalidInput("alpha must lie in (0, 1)")
        if null.tail != self.tail:
            raise InvalidInput(f"the null was measured for a statistic whose copies lie {null.tail}")
        null.check_size(alpha, mode)
        started = time.perf_counter()
        before = suspect.queries
        answers = self.ask(evidence, suspect)
        stat = float(self.score(evidence, answers))
        p, details = self.judge(stat, evidence, answers, null, mode)
        return Verdict(
            method=self.name,
            statistic=stat,
            p_value=p,
            empirical_p=null.empirical_p(stat),
            alpha=alpha,
            mode=mode,
            stolen=bool(p < alpha),
            queries=suspect.queries - before,
            seconds=time.perf_counter() - started,
            independents=null.size,
            false_accusation_rate=self.false_accusation_rate(evidence, null, alpha, mode),
            details=details,
        )

    def false_accusation_rate(
        self, evidence: Evidence, null: NullDistribution, alpha: float, mode: Mode
    ) -> float:
        """Share of independents accused at ``alpha`` by a null of the others (leave one out)."""
        return null.false_accusation_rate(alpha, mode)


def owner_of(directory: Any) -> Owner:
    """The owner held in a model directory (a path, or one already loaded): its model, its
    public (eval) rows and their labels, its private (training) rows if kept, its watermark."""
    from modelsteal.victims.model_dir import ModelDir, load_model_dir, load_pool, load_private, load_watermark

    md = directory if isinstance(directory, ModelDir) else load_model_dir(directory)
    classes = tuple(str(c) for c in md.card["classes"])
    y = md.y_eval if len(md.y_eval) == len(md.X_eval) else None
    private = load_private(md.path)
    pool = load_pool(md.path)
    return Owner(
        md.victim,
        classes,
        md.X_eval,
        y_public=y,
        X_private=None if private is None else private[0],
        y_private=None if private is None else private[1],
        watermark=load_watermark(md.path),
        watermark_kind=md.card.get("details", {}).get("watermark", {}).get("kind"),
        X_pool=None if pool is None or pool[1] is None else pool[0],
        y_pool=None if pool is None else pool[1],
    )


def whole_number(name: str, value: Any, least: int = 1) -> int:
    """``value`` as a count of at least ``least``, or a clear error naming ``name``.

    Methods' hyperparameters are checked here so every method words the error alike; a
    bool is refused although Python counts it as an int."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise InvalidInput(f"{name} must be a whole number >= {least}, not {value!r}")
    return value


def answers_kind(value: Any) -> Literal["probabilities", "labels"]:
    """The kind of answers a method reads: 'probabilities' or 'labels'."""
    if value == "probabilities":
        return "probabilities"
    if value == "labels":
        return "labels"
    raise InvalidInput(f"answers must be 'probabilities' or 'labels', not {value!r}")
