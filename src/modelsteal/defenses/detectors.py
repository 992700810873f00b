"""Extraction detectors: each watches one stream of queries (a client, or a group of clients).

A :class:`Detector` is configuration; :meth:`Detector.stream` makes the per-stream state,
whose ``observe(X, proba)`` takes each answered batch with the model's own probabilities
(the gateway sees them whatever the client is shown) and returns an :class:`Alarm` the
first time the stream crosses the detector's threshold. Detectors decide nothing; the
policy's actions do. Every state has a fixed memory bound, reported by ``nbytes``.

- ``prada`` — PRADA (Juuti et al., EuroS&P 2019): per predicted class, a growing set of
  queries; each new query's minimum L2 distance to its class's set joins the distance set
  D, and the query joins the growing set when that distance exceeds the class's mean minus
  one deviation. Natural queries give roughly normal distances; synthetic and probing
  queries do not. Alarm when the Shapiro–Wilk statistic of D falls below ``delta``.
  Departures: exact repeats (distance 0) are left out of D, and by default the test runs
  on log distances: on tabular data honest minimum distances are right-skewed, which the
  raw test takes for an attack (every honest breast-cancer client, in our runs). Bound: ``max_points`` rows of d float32 per stream (the oldest point of a class makes way
  for a new one) and the last ``window`` distances.
- ``unique_share`` — the share of distinct inputs among the stream's rows in the current
  hour; alarm above ``threshold`` (90%) once ``min_rows`` rows are in, or earlier when the
  first ``all_distinct_rows`` rows of the hour are all distinct (a client that repeats 15% of
  its inputs sends 100 distinct rows in a row with probability 0.85^100, about 1e-7). The
  rule assumes honest clients repeat some inputs; one that never does is flagged.
  Bound: ``max_rows`` 8-byte digests per hour (about 100 bytes each in a Python set).
- ``narrow_range`` — systematic probing: the share of consecutive queries that change at
  most ``max_changed`` features (or ``max_changed_share`` of them) or continue along the
  previous query's direction (line search). Bound: two rows and a window of flags.
- ``boundary`` — the share of answers whose top-1 margin is below ``margin``.
- ``single_class`` — the share of the window's answers in its most common class, among
  answers at least ``confidence`` sure (models with ``min_classes`` classes or more).
- ``coverage`` — after Kesarwani et al. (CODASPY 2018): how fast the stream covers the
  input space. The space is cut into fixed cells (``bits`` random hyperplanes through the
  box's centre, times the predicted class); the share of all cells visited is the stream's
  extraction-progress estimate, and the alarm fires when the share of queries that opened
  a new cell reaches ``threshold`` (natural inputs keep to few cells; probes spread).
"""

from __future__ import annotations

import hashlib
import sys
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.params import Configurable
from modelsteal.registry import DETECTORS as DETECTOR_ROWS
from modelsteal.row_limits import check_limit

FloatArray = NDArray[np.float64]
ACTIONS = ("log", "flag", "throttle", "degrade", "block")
#: PRADA's evidence on a member of a group needs at least this many distances (Shapiro-Wilk
#: is meaningless on fewer)
MIN_EVIDENCE_DISTANCES = 20


@dataclass(frozen=True)
class Alarm:
    """A detector's finding on one stream."""

    detector: str
    score: float
    threshold: float
    reason: str
    at_row: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "score": round(self.score, 6),
            "threshold": self.threshold,
            "reason": self.reason,
            "at_row": self.at_row,
        }


class StreamState(ABC):
    """One detector's memory of one stream."""

    #: a low score is alarming (PRADA's W) rather than a high one
    low_is_alarming: ClassVar[bool] = False

    def __init__(self) -> None:
        self.rows = 0
        self.alarm: Alarm | None = None
        self.last_score = float("nan")
        self.peak = float("nan")  # the most alarming score seen so far
        self.row_flags: NDArray[np.bool_] | None = None

    def observe(self, X: FloatArray, proba: FloatArray, now: float = 0.0) -> Alarm | None:
        """Take one answered batch; return an alarm the first time the stream crosses the line.

        ``row_flags`` then holds, per row of the batch, whether that row shows the pattern the
        detector counts (a new input, a narrow step, a small margin, ...), or ``None`` for a
        detector whose finding is about the whole stream (PRADA's distribution test): a group
        stream credits each flag to the member who sent the row.
        """
        self.row_flags = self._update(X, proba, now)
        self.rows += X.shape[0]
        found = self._check()
        s = self.last_score
        if not np.isnan(s) and (
            np.isnan(self.peak) or (s < self.peak if self.low_is_alarming else s > self.peak)
        ):
            self.peak = s
        if found is not None and self.alarm is None:
            self.alarm = found
            return found
        return None

    def _at_least(self, name: str, score: float, threshold: float, reason: str) -> Alarm | None:
        """Record ``score``; an alarm when it reaches ``threshold``."""
        self.last_score = score
        return Alarm(name, score, threshold, reason, self.rows) if score >= threshold else None

    def evidence(self) -> float:
        """The detector's score on what this stream holds so far, before its ``min_rows``
        (NaN when nothing can be said yet). A group alarm names a member only when the
        member's own stream points the same way (see ``Monitor``)."""
        return float("nan")

    def points_to_extraction(self, score: float | None = None) -> bool:
        """Whether ``score`` (default: this stream's evidence) lies on the alarming side."""
        score = self.evidence() if score is None else score
        if np.isnan(score):
            return False
        return bool(score < self.threshold if self.low_is_alarming else score >= self.threshold)

    @property
    @abstractmethod
    def threshold(self) -> float: ...

    @abstractmethod
    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None: ...

    @abstractmethod
    def _check(self) -> Alarm | None: ...

    @abstractmethod
    def nbytes(self) -> int:
        """Memory the state holds now (its bound is in the detector's docstring)."""


@dataclass(frozen=True)
class Detector(Configurable, ABC):
    """Configuration of one detector; ``stream`` makes the state of one stream.

    A frozen dataclass: its fields are its parameters (``get_params``, ``to_dict``)."""

    name: ClassVar[str] = "detector"
    action: str = "flag"

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidInput(f"{self.name}: action must be one of {', '.join(ACTIONS)}")

    @abstractmethod
    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState: ...

    def params(self) -> dict[str, Any]:
        return self.get_params()


def _scaled(X: FloatArray, space: FeatureSpace) -> FloatArray:
    span = np.where(space.upper > space.lower, space.upper - space.lower, 1.0)
    return np.asarray((np.nan_to_num(X, nan=0.0) - space.lower) / span)


# ---------------------------------------------------------------------- PRADA
@dataclass(frozen=True)
class Prada(Detector):
    name: ClassVar[str] = "prada"
    delta: float = 0.85
    min_distances: int = 100
    max_points: int = 1000
    window: int = 2000
    log_distances: bool = True

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _PradaState(self, space, n_classes)


class _PradaState(StreamState):
    low_is_alarming: ClassVar[bool] = True

    def __init__(self, cfg: Prada, space: FeatureSpace, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.space = space
        self.per_class = max(1, cfg.max_points // n_classes)
        self.points: list[NDArray[np.float32]] = [np.zeros((0, space.n_features), np.float32)] * n_classes
        self.stats = np.zeros((n_classes, 3))  # count, mean, M2 of each class's distances
        self.distances: deque[float] = deque(maxlen=cfg.window)

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None:
        self._grow(X, proba)
        return None  # the finding is the distribution of all distances, not a row's

    def _grow(self, X: FloatArray, proba: FloatArray) -> None:
        Z = _scaled(X, self.space).astype(np.float32)
        for z, c in zip(Z, np.argmax(proba, axis=1).tolist(), strict=True):
            G = self.points[c]
            if G.shape[0] == 0:
                self.points[c] = z[None, :]
                continue
            d = float(np.sqrt(((G - z) ** 2).sum(axis=1).min()))
            if d == 0.0:
                continue  # an exact repeat tells nothing about how queries spread
            self.distances.append(d)
            count, mean, m2 = self.stats[c]
            threshold = mean - (np.sqrt(m2 / count) if count > 1 else 0.0)
            count += 1
            delta = d - mean
            mean += delta / count
            m2 += delta * (d - mean)
            self.stats[c] = (count, mean, m2)
            if d > threshold:
                if G.shape[0] >= self.per_class:
                    G = G[1:]
                self.points[c] = np.vstack([G, z[None, :]])

    @property
    def threshold(self) -> float:
        return self.cfg.delta

    def _w(self) -> float:
        D = np.asarray(self.distances)
        if self.cfg.log_distances:
            D = np.log(D)
        from scipy.stats import shapiro  # imported here: loading scipy.stats costs ~0.3 s

        return 0.0 if np.ptp(D) == 0 else float(shapiro(D).statistic)

    def evidence(self) -> float:
        return self._w() if len(self.distances) >= MIN_EVIDENCE_DISTANCES else float("nan")

    def _check(self) -> Alarm | None:
        if len(self.distances) < self.cfg.min_distances:
            return None
        D = self.distances
        w = self._w()
        self.last_score = w
        if w < self.cfg.delta:
            return Alarm(
                "prada",
                w,
                self.cfg.delta,
                f"Shapiro-Wilk W={w:.3f} < {self.cfg.delta} over {len(D)} minimum distances",
                self.rows,
            )
        return None

    def nbytes(self) -> int:
        floats = sys.getsizeof(self.distances) + 24 * len(self.distances)  # a deque of Python floats
        return sum(p.nbytes for p in self.points) + self.stats.nbytes + floats


# ---------------------------------------------------------------------- unique inputs
@dataclass(frozen=True)
class UniqueShare(Detector):
    name: ClassVar[str] = "unique_share"
    threshold: float = 0.9
    min_rows: int = 200
    period: float = 3600.0
    max_rows: int = 20_000
    all_distinct_rows: int = 100

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _UniqueState(self)


class _UniqueState(StreamState):
    def __init__(self, cfg: UniqueShare) -> None:
        super().__init__()
        self.cfg = cfg
        self.bucket = -1
        self.seen: set[bytes] = set()
        self.total = 0

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None:
        bucket = int(now // self.cfg.period)
        if bucket != self.bucket:
            self.bucket, self.seen, self.total = bucket, set(), 0
        new = np.zeros(X.shape[0], dtype=bool)
        for i, row in enumerate(np.ascontiguousarray(X)):
            if self.total >= self.cfg.max_rows:
                break
            digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
            new[i] = digest not in self.seen
            self.seen.add(digest)
            self.total += 1
        return new

    @property
    def threshold(self) -> float:
        return self.cfg.threshold

    def evidence(self) -> float:
        return len(self.seen) / self.total if self.total else float("nan")

    def points_to_extraction(self, score: float | None = None) -> bool:
        score = self.evidence() if score is None else score
        return bool(not np.isnan(score) and score > self.cfg.threshold)

    def _check(self) -> Alarm | None:
        early = self.cfg.all_distinct_rows
        if 0 < early <= self.total < self.cfg.min_rows and len(self.seen) == self.total:
            self.last_score = 1.0
            return Alarm(
                "unique_share",
                1.0,
                self.cfg.threshold,
                f"the first {self.total} inputs this hour are all distinct",
                self.rows,
            )
        if self.total < self.cfg.min_rows:
            return None
        share = len(self.seen) / self.total
        self.last_score = share
        if share > self.cfg.threshold:
            return Alarm(
                "unique_share",
                share,
                self.cfg.threshold,
                f"{100 * share:.1f}% of {self.total} inputs this hour are distinct",
                self.rows,
            )
        return None

    def nbytes(self) -> int:
        # the set's table plus one 8-byte bytes object (41 bytes in CPython) per digest
        return sys.getsizeof(self.seen) + sys.getsizeof(b"12345678") * len(self.seen)


# ---------------------------------------------------------------------- narrow-range probing
@dataclass(frozen=True)
class NarrowRange(Detector):
    name: ClassVar[str] = "narrow_range"
    threshold: float = 0.5
    max_changed: int = 2
    max_changed_share: float = 0.05
    collinear: float = 0.999
    min_rows: int = 50
    window: int = 200

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _NarrowState(self, space)


class _NarrowState(StreamState):
    def __init__(self, cfg: NarrowRange, space: FeatureSpace) -> None:
        super().__init__()
        self.cfg = cfg
        self.space = space
        self.limit = max(cfg.max_changed, int(cfg.max_changed_share * space.n_features))
        self.prev: FloatArray | None = None
        self.prev_step: FloatArray | None = None
        self.flags: deque[bool] = deque(maxlen=cfg.window)

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None:
        Z = _scaled(X, self.space)
        missing = np.isnan(X)
        first = self.prev is None  # the stream's first row is no step
        if self.prev is None:
            steps, missing = np.diff(Z, axis=0), missing[1:]
        else:
            steps = np.diff(np.vstack([self.prev[None, :], Z]), axis=0)
        self.prev = Z[-1].copy()
        if steps.shape[0] == 0:
            return np.zeros(X.shape[0], dtype=bool)
        changed = (np.abs(steps) > 1e-12).sum(axis=1) + missing.sum(axis=1)
        narrow = ((changed > 0) & (changed <= self.limit)) | missing.any(axis=1)
        # a step along the previous step's line (either way) is a line search
        has_before = np.ones(steps.shape[0], dtype=bool)
        if self.prev_step is None:
            before = np.vstack([np.zeros_like(steps[:1]), steps[:-1]])
            has_before[0] = False
        else:
            before = np.vstack([self.prev_step[None, :], steps[:-1]])
        a, b = np.linalg.norm(steps, axis=1), np.linalg.norm(before, axis=1)
        cos = np.abs((steps * before).sum(axis=1)) / np.where(a * b > 0, a * b, 1.0)
        collinear = has_before & (a > 0) & (b > 0) & (cos >= self.cfg.collinear)
        flags = narrow | collinear
        self.flags.extend(flags.tolist())
        self.prev_step = steps[-1].copy()
        return np.concatenate([[False], flags]) if first else flags

    @property
    def threshold(self) -> float:
        return self.cfg.threshold

    def evidence(self) -> float:
        return float(np.mean(self.flags)) if self.flags else float("nan")

    def _check(self) -> Alarm | None:
        if len(self.flags) < self.cfg.min_rows:
            return None
        share = float(np.mean(self.flags))
        reason = (
            f"{100 * share:.0f}% of the last {len(self.flags)} queries move along a line or change "
            f"at most {self.limit} features"
        )
        return self._at_least("narrow_range", share, self.cfg.threshold, reason)

    def nbytes(self) -> int:
        vecs = sum(v.nbytes for v in (self.prev, self.prev_step) if v is not None)
        return vecs + sys.getsizeof(self.flags)


# ---------------------------------------------------------------------- boundary and single class
@dataclass(frozen=True)
class BoundaryProbing(Detector):
    name: ClassVar[str] = "boundary"
    threshold: float = 0.15
    margin: float = 0.1
    min_rows: int = 100
    window: int = 500

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _BoundaryState(self)


class _BoundaryState(StreamState):
    def __init__(self, cfg: BoundaryProbing) -> None:
        super().__init__()
        self.cfg = cfg
        self.small: deque[bool] = deque(maxlen=cfg.window)

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None:
        top2 = np.sort(proba, axis=1)[:, -2:] if proba.shape[1] > 1 else np.hstack([proba * 0, proba])
        small = top2[:, 1] - top2[:, 0] < self.cfg.margin
        self.small.extend(small.tolist())
        return small

    @property
    def threshold(self) -> float:
        return self.cfg.threshold

    def evidence(self) -> float:
        return float(np.mean(self.small)) if self.small else float("nan")

    def _check(self) -> Alarm | None:
        if len(self.small) < self.cfg.min_rows:
            return None
        share = float(np.mean(self.small))
        reason = f"{100 * share:.0f}% of the last {len(self.small)} answers have a top-1 margin below {self.cfg.margin}"
        return self._at_least("boundary", share, self.cfg.threshold, reason)

    def nbytes(self) -> int:
        return sys.getsizeof(self.small)


@dataclass(frozen=True)
class SingleClass(Detector):
    name: ClassVar[str] = "single_class"
    threshold: float = 0.8
    confidence: float = 0.9
    min_rows: int = 500
    window: int = 500
    min_classes: int = 3

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _SingleClassState(self, n_classes)


class _SingleClassState(StreamState):
    def __init__(self, cfg: SingleClass, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.active = n_classes >= cfg.min_classes  # with two classes, one class is no sign
        self.classes: deque[int] = deque(maxlen=cfg.window)  # -1: not sure enough

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None:
        sure = proba.max(axis=1) >= self.cfg.confidence
        labels = np.where(sure, np.argmax(proba, axis=1), -1)
        self.classes.extend(labels.tolist())
        return np.asarray(labels == self._share()[1]) if self.active else None

    @property
    def threshold(self) -> float:
        return self.cfg.threshold

    def _share(self) -> tuple[float, int]:
        arr = np.asarray(self.classes)
        counts = np.bincount(arr[arr >= 0]) if (arr >= 0).any() else np.zeros(1)
        return float(counts.max() / arr.size), int(counts.argmax())

    def evidence(self) -> float:
        return self._share()[0] if self.active and self.classes else float("nan")

    def _check(self) -> Alarm | None:
        if not self.active or len(self.classes) < self.cfg.min_rows:
            return None
        share, top = self._share()
        reason = (
            f"{100 * share:.0f}% of the last {len(self.classes)} answers are class {top} at high confidence"
        )
        return self._at_least("single_class", share, self.cfg.threshold, reason)

    def nbytes(self) -> int:
        return sys.getsizeof(self.classes)


# ---------------------------------------------------------------------- coverage
@dataclass(frozen=True)
class Coverage(Detector):
    name: ClassVar[str] = "coverage"
    threshold: float = 0.8
    bits: int = 8
    min_rows: int = 100
    seed: int = 0

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _CoverageState(self, space, n_classes)


class _CoverageState(StreamState):
    def __init__(self, cfg: Coverage, space: FeatureSpace, n_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.space = space
        rng = np.random.default_rng(cfg.seed)
        self.planes = rng.standard_normal((space.n_features, cfg.bits))
        self.visited = np.zeros((2**cfg.bits) * n_classes, dtype=bool)
        self.weights = 1 << np.arange(cfg.bits)
        self.distinct_rows = 0  # rows that were the first in their cell

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> NDArray[np.bool_] | None:
        Z = _scaled(X, self.space) - 0.5
        cells = ((Z @ self.planes) > 0).astype(np.int64) @ self.weights
        keys = np.argmax(proba, axis=1) * (2**self.cfg.bits) + cells
        found, first = np.unique(keys, return_index=True)
        fresh = ~self.visited[found]
        self.visited[found[fresh]] = True
        self.distinct_rows += int(fresh.sum())  # rows that were the first in their cell
        opened = np.zeros(X.shape[0], dtype=bool)
        opened[first[fresh]] = True
        return opened

    @property
    def progress(self) -> float:
        """The extraction-progress estimate: the share of all cells the stream has visited."""
        return float(self.visited.mean())

    @property
    def threshold(self) -> float:
        return self.cfg.threshold

    def evidence(self) -> float:
        return self.distinct_rows / self.rows if self.rows else float("nan")

    def _check(self) -> Alarm | None:
        if self.rows < self.cfg.min_rows:
            return None
        novelty = self.distinct_rows / self.rows
        reason = (
            f"{100 * novelty:.0f}% of {self.rows} queries opened a new input-space cell; "
            f"progress: {100 * self.progress:.1f}% of {self.visited.size} cells visited"
        )
        return self._at_least("coverage", novelty, self.cfg.threshold, reason)

    def nbytes(self) -> int:
        return self.visited.nbytes + self.planes.nbytes


#: the detectors by name (rows in ``modelsteal.registry``)
DETECTORS = DETECTOR_ROWS


@dataclass(frozen=True)
class DetectionConfig:
    """The policy's ``detection`` section: detectors, grouping of keys, and what actions do."""

    detectors: tuple[Detector, ...] = field(default_factory=lambda: default_detectors())
    groups: tuple[str, ...] = ("ip_prefix", "creation_burst")
    creation_window: float = 600.0
    throttle_limits: tuple[str, ...] = ("100/hour",)
    degrade_output: str = "label"
    group_member_rows: int = 20

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DetectionConfig:
        data = data or {}
        if not isinstance(data, dict):
            raise InvalidInput("detection must be a mapping")
        unknown = set(data) - {
            "detectors",
            "groups",
            "creation_window",
            "throttle_limits",
            "degrade_output",
            "group_member_rows",
        }
        if unknown:
            raise InvalidInput(f"detection has unknown fields: {', '.join(sorted(unknown))}")
        detectors: tuple[Detector, ...] = default_detectors()
        if "detectors" in data:
            specs = data["detectors"] or {}
            if not isinstance(specs, dict):
                raise InvalidInput("detection.detectors maps detector names to their settings")
            built = []
            for name, spec in specs.items():
                kind = DETECTORS.get(str(name))
                if kind is None:
                    raise InvalidInput(f"unknown detector {name!r}; choose from {', '.join(DETECTORS)}")
                try:
                    built.append(kind(**(spec or {})))
                except TypeError as exc:
                    raise InvalidInput(f"detector {name}: {exc}") from None
            detectors = tuple(built)
        groups = tuple(data.get("groups", ("ip_prefix", "creation_burst")))
        bad = set(groups) - {"ip_prefix", "creation_burst"}
        if bad:
            raise InvalidInput(
                f"unknown key groupings: {', '.join(sorted(bad))}; use ip_prefix, creation_burst"
            )
        degrade = str(data.get("degrade_output", "label"))
        if degrade not in ("label", "top_k"):
            raise InvalidInput("degrade_output must be label or top_k")
        return cls(
            detectors=detectors,
            groups=groups,
            creation_window=float(data.get("creation_window", 600.0)),
            throttle_limits=tuple(check_limit(x) for x in data.get("throttle_limits", ("100/hour",))),
            degrade_output=degrade,
            group_member_rows=_whole(data.get("group_member_rows", 20), "group_member_rows"),
        )


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"detection.{name} must be a whole number >= 1")
    return value


def default_detectors() -> tuple[Detector, ...]:
    # single_class only logs: an honest user may well send one kind of input for a while
    return (Prada(), UniqueShare(), NarrowRange(), BoundaryProbing(), SingleClass(action="log"), Coverage())
