"""Dataset inference: does the suspect carry the owner's *training data* in its decisions?

Maini, Yaghini, Papernot. "Dataset Inference: Ownership Resolution in Machine Learning",
ICLR 2021. A model trained on a set of rows sits further from its decision boundary on
those rows than on rows of the same distribution it never saw; a copy made from the model
(by extraction or distillation) inherits that distance. The owner reveals ``m`` of its
private training rows and ``m`` public rows, measures the suspect's distance to the
boundary around each, turns each row's distances into a score with a regressor it trained
on its **own** model (private against public rows, disjoint from the revealed ones), and
tests whether the suspect's scores on the private rows exceed those on the public rows
(one-sided Welch t-test). An independent model never saw the private rows and shows no gap.

Embeddings:

* ``labels`` (black box): the paper's **blind walk**. From each row, ``directions`` random
  directions; along each, ``steps`` points at growing distance; the distance is the first
  step at which the suspect's label leaves the row's true label (0 when the row itself is
  misclassified, ``steps + 1`` when the walk never leaves). Every point is sent at once,
  ``1 + directions * steps`` queries per row, so the queries do not depend on the answers.
* ``probabilities``: the log-odds margin of the true label over the runner-up, one query
  per row: a cheap black-box stand-in for the distances below.
* MinGD (:class:`MinGDInference`, white box): the paper's smallest L1, L2 and L-inf
  perturbations to each wrong class, found by gradient descent on a suspect that runs here
  (a model directory or an ONNX file); no query is spent.

**Departures from the paper**: the walk's points are sent at once rather than stopping at
the first change; the regressor is a logistic regression
on the sorted distances; the verdict's p-value is judged against independent models like
every method here (``null.py``), and the paper's own Welch p-value is reported beside it.
The signal needs an owner whose model tells its training rows from others (a
generalisation gap): on digits and mnist5k CNNs there is none to read, on MNIST-1D there
is (``bench/ownership.py`` shows both).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sklearn.linear_model import LogisticRegression

from modelsteal.errors import InvalidInput
from modelsteal.oracle import Oracle
from modelsteal.oracle.answers import Answers
from modelsteal.ownership.base import (
    Evidence,
    FloatArray,
    Owner,
    OwnershipMethod,
    answers_kind,
    whole_number,
)
from modelsteal.ownership.null import Mode, NullDistribution
from modelsteal.ownership.white_box import (
    TargetGradient,
    local_model,
    predicted_labels,
    target_gradient,
    torch_module,
)
from modelsteal.random import RandomState, check_random_state

#: rows of each side (private, public) the owner's regressor is fitted on
FIT_ROWS = 200


def walk_points(
    X: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    directions: int,
    steps: int,
    step: float,
    rng: np.random.Generator,
) -> FloatArray:
    """For each row: the row, then ``steps`` points along each of ``directions`` random
    directions (uniform in the box's shape, ``step`` of each feature's range a step), clipped
    to the box. Shape ``(rows * (1 + directions * steps), features)``."""
    n, d = X.shape
    span = upper - lower
    u = rng.uniform(-1.0, 1.0, (n, directions, 1, d)) * (step * span)
    k = np.arange(1, steps + 1, dtype=np.float64)[None, None, :, None]
    walks = np.clip(X[:, None, None, :] + k * u, lower, upper).reshape(n, directions * steps, d)
    out = np.concatenate([X[:, None, :], walks], axis=1)
    return np.asarray(out.reshape(-1, d), dtype=np.float64)


def walk_distances(
    labels: NDArray[np.int64], y: NDArray[np.int64], directions: int, steps: int
) -> FloatArray:
    """Each row's sorted distances (in steps, scaled to [0, 1]) to leave its true label."""
    per_row = labels.reshape(y.size, 1 + directions * steps)
    start_wrong = per_row[:, 0] != y
    moved = per_row[:, 1:].reshape(y.size, directions, steps) != y[:, None, None]
    first = np.where(moved.any(axis=2), moved.argmax(axis=2) + 1, steps + 1).astype(np.float64)
    first[start_wrong] = 0.0
    return np.sort(first, axis=1) / (steps + 1)


def true_label_margin(proba: FloatArray, y: NDArray[np.int64]) -> FloatArray:
    """log p(true) − log p(best other): positive when right, larger when further inside."""
    rows = np.arange(y.size)
    p_true = proba[rows, y]
    other = proba.copy()
    other[rows, y] = -np.inf
    margin = np.log(np.maximum(p_true, 1e-12)) - np.log(np.maximum(other.max(axis=1), 1e-12))
    return np.asarray(margin[:, None], dtype=np.float64)


NORMS = ("l1", "l2", "linf")


def _norm(delta: FloatArray, norm: str) -> FloatArray:
    if norm == "l1":
        return np.asarray(np.abs(delta).sum(axis=1), dtype=np.float64)
    if norm == "l2":
        return np.asarray(np.sqrt((delta**2).sum(axis=1)), dtype=np.float64)
    return np.asarray(np.abs(delta).max(axis=1), dtype=np.float64)


def _step(grad: FloatArray, norm: str, size: float) -> FloatArray:
    """A step of length ``size`` (in ``norm``) up the gradient."""
    if norm == "linf":
        return size * np.sign(grad)
    if norm == "l2":
        length = np.sqrt((grad**2).sum(axis=1, keepdims=True))
        return size * grad / np.where(length > 0, length, 1.0)
    # l1: the steepest coordinates only (the top 5%), the length shared among them
    d = grad.shape[1]
    q = max(1, d // 20)
    top = np.argpartition(-np.abs(grad), q - 1, axis=1)[:, :q]
    out = np.zeros_like(grad)
    rows = np.arange(grad.shape[0])[:, None]
    out[rows, top] = np.sign(grad[rows, top]) * (size / q)
    return out


def mingd_distances(
    gradient: TargetGradient,
    labels_of: Callable[[FloatArray], NDArray[np.int64]],
    X: FloatArray,
    y: NDArray[np.int64],
    n_classes: int,
    lower: FloatArray,
    upper: FloatArray,
    *,
    norms: tuple[str, ...] = NORMS,
    steps: int = 20,
    reach: float = 0.25,
    refine: int = 8,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """MinGD: for each row and each class but its true one, the smallest perturbation (in each
    of ``norms``, in units of the box's width) that the model labels as that class.

    Gradient ascent on log p(target) with ``steps`` steps of ``reach / steps`` of the box's
    diameter in that norm (1 for L-inf, sqrt(d) for L2, d for L1); once a row's label turns,
    ``refine`` halvings along its last step place the crossing (``labels_of`` gives the labels). A row never turned within the
    steps keeps the distance it travelled. Returns the distances, per norm each row's sorted
    ascending (rows × norms·(classes − 1)), and the model's labels on the rows themselves.
    """
    n, d = X.shape
    span = np.where(upper > lower, upper - lower, 1.0)
    u0 = (X - lower) / span
    wrong = np.array([[c for c in range(n_classes) if c != label] for label in y], dtype=np.int64)
    targets = wrong.reshape(-1)
    base = np.repeat(u0, n_classes - 1, axis=0)

    def labels_at(u: FloatArray) -> NDArray[np.int64]:
        return np.asarray(labels_of(lower + u * span), dtype=np.int64)

    own = labels_at(u0)
    features = []
    for norm in norms:
        diameter = {"linf": 1.0, "l2": float(np.sqrt(d)), "l1": float(d)}[norm]
        size = reach * diameter / steps
        delta = np.zeros_like(base)
        before = np.zeros_like(base)
        crossed = np.zeros(targets.size, dtype=bool)
        done = np.zeros(targets.size, dtype=bool)
        for taken in range(steps + 1):
            live = np.flatnonzero(~done)
            if live.size == 0:
                break
            _, grad, labels = gradient(lower + (base[live] + delta[live]) * span, targets[live])
            turned = labels == targets[live]
            crossed[live[turned]] = True
            done[live[turned]] = True
            move = live[~turned]
            if move.size == 0 or taken == steps:
                break
            before[move] = delta[move]
            stepped = base[move] + delta[move] + _step(grad[~turned] * span, norm, size)
            delta[move] = np.clip(stepped, 0.0, 1.0) - base[move]
        # halve the last step of each row that turned, to place its crossing
        turned_rows = np.flatnonzero(crossed & np.any(delta != before, axis=1))
        lo, hi = before[turned_rows], delta[turned_rows]
        for _ in range(refine if turned_rows.size else 0):
            mid = (lo + hi) / 2
            hit = labels_at(base[turned_rows] + mid) == targets[turned_rows]
            hi = np.where(hit[:, None], mid, hi)
            lo = np.where(hit[:, None], lo, mid)
        delta[turned_rows] = hi
        features.append(np.sort(_norm(delta, norm).reshape(n, n_classes - 1), axis=1) / diameter)
    return np.asarray(np.concatenate(features, axis=1), dtype=np.float64), own


@dataclass(frozen=True)
class DistanceAnswers(Answers):
    """A white-box suspect's "answers": its labels on the rows and its MinGD distances."""

    distances: FloatArray | None = None
    #: how the gradients were read: ``autograd`` or ``finite differences``
    gradients: str = ""


class _RegressionTest(OwnershipMethod):
    """What every dataset-inference embedding shares (the module doc): the owner's regressor
    of private against public rows on its own embedding, and a Welch t-statistic of the
    suspect's scores on ``n_samples`` revealed private rows against as many public rows.
    A subclass names its embedding: the queries it sends, and how answers become features."""

    tail: ClassVar[Literal["high"]] = "high"

    def __init__(self, *, n_samples: int) -> None:
        self.n_samples = whole_number("n_samples (the private rows revealed)", n_samples, 2)

    @abstractmethod
    def _queries_for(self, X: FloatArray, owner: Owner, rng: np.random.Generator) -> FloatArray:
        """The queries that embed rows ``X``."""

    @abstractmethod
    def _embed(self, answers: Answers, y: NDArray[np.int64]) -> FloatArray:
        """The features (one row per embedded row) that the answers to those queries give."""

    @abstractmethod
    def _owner_features(
        self, owner: Owner, X: FloatArray, y: NDArray[np.int64], rng: np.random.Generator
    ) -> FloatArray:
        """The owner's own model's embedding of rows ``X`` (its regressor is fitted on them)."""

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        if owner.X_private is None or owner.y_private is None:
            raise InvalidInput(
                "dataset inference reveals some of the owner's training rows and the model directory "
                "keeps none: train the owner with --keep-private"
            )
        if owner.y_public is None:
            raise InvalidInput("dataset inference needs the true labels of the owner's public (eval) rows")
        m = self.n_samples
        n_private, n_public = owner.y_private.size, owner.y_public.size
        fit = min(FIT_ROWS, n_private - m, n_public - m)
        if fit < 20:
            raise InvalidInput(
                f"dataset inference reveals {m} private and {m} public rows and fits its regressor on "
                f"at least 20 more of each; the owner keeps {n_private} private and {n_public} public rows: "
                "lower --private-samples"
            )
        rng = check_random_state(random_state)
        priv = rng.permutation(n_private)[: m + fit]
        pub = rng.permutation(n_public)[: m + fit]
        # the regressor: the owner's own model, private (1) against public (0), on rows not revealed
        X_fit = np.vstack([owner.X_private[priv[m:]], owner.X_public[pub[m:]]])
        y_fit = np.concatenate([owner.y_private[priv[m:]], owner.y_public[pub[m:]]])
        features = self._owner_features(owner, X_fit, y_fit, rng)
        side = np.r_[np.ones(fit), np.zeros(fit)]
        # standardised: MinGD's distances are hundredths of the box, the walk's steps tenths
        centre, scale = features.mean(axis=0), features.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        features = (features - centre) / scale
        regressor = LogisticRegression(max_iter=1000).fit(features, side)
        # the revealed rows: m private, then m public
        X_test = np.vstack([owner.X_private[priv[:m]], owner.X_public[pub[:m]]])
        y_test = np.concatenate([owner.y_private[priv[:m]], owner.y_public[pub[:m]]])
        data: dict[str, Any] = {
            "y": y_test,
            "m": m,
            "centre": centre,
            "scale": scale,
            "coef": regressor.coef_[0].copy(),
            "intercept": float(regressor.intercept_[0]),
            "owner_fit_auc": _auc(regressor.decision_function(features), side),
        }
        return Evidence(self.name, self._queries_for(X_test, owner, rng), data)

    def scores(self, evidence: Evidence, answers: Answers) -> tuple[FloatArray, FloatArray]:
        """The regressor's scores on the revealed private rows and on the public rows."""
        y = evidence.data["y"]
        features = self._embed(answers, y)
        standard = (features - evidence.data["centre"]) / evidence.data["scale"]
        score = standard @ evidence.data["coef"] + evidence.data["intercept"]
        m = int(evidence.data["m"])
        return score[:m], score[m:]

    def score(self, evidence: Evidence, answers: Answers) -> float:
        private, public = self.scores(evidence, answers)
        return welch_t(private, public)

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        private, public = self.scores(evidence, answers)
        welch = stats.ttest_ind(private, public, equal_var=False, alternative="greater")
        details = {
            "m": int(evidence.data["m"]),
            "welch_p": float(welch.pvalue) if np.isfinite(welch.pvalue) else 1.0,
            "owner_fit_auc": evidence.data["owner_fit_auc"],
        }
        return null.p(statistic, mode), details


def welch_t(a: FloatArray, b: FloatArray) -> float:
    """Welch's t of mean(a) > mean(b); 0 when both sides are constant and equal."""
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    diff = float(a.mean() - b.mean())
    if se == 0:
        return 0.0 if diff == 0 else float(np.sign(diff)) * 1e6
    return diff / float(se)


def _auc(score: FloatArray, side: FloatArray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(side, score))


class DatasetInference(_RegressionTest):
    """Dataset inference (Maini et al. 2021; the module doc) through a black-box API: the
    blind walk with labels, or the true-label margin with probabilities.

    Parameters
    ----------
    n_samples:
        ``m``, the private rows revealed (and public rows beside them).
    answers:
        ``labels`` (blind walk, any API) or ``probabilities`` (true-label margin).
    directions, steps, step:
        The blind walk: random directions per row, points along each, and the step as a
        share of each feature's range.
    """

    def __init__(
        self,
        *,
        n_samples: int = 50,
        answers: Literal["probabilities", "labels"] = "labels",
        directions: int = 10,
        steps: int = 10,
        step: float = 0.02,
    ) -> None:
        super().__init__(n_samples=n_samples)
        if not 0 < step < 1:
            raise InvalidInput("step is a share of each feature's range in (0, 1)")
        self.answers = answers_kind(answers)
        self.directions = whole_number("directions", directions)
        self.steps = whole_number("steps", steps)
        self.step = step

    @property
    def name(self) -> str:  # type: ignore[override]
        return "dataset-inference" if self.answers == "labels" else "dataset-inference-proba"

    @property
    def needs(self) -> Literal["labels", "probabilities"]:  # type: ignore[override]
        return self.answers

    def _queries_for(self, X: FloatArray, owner: Owner, rng: np.random.Generator) -> FloatArray:
        if self.answers == "probabilities":
            return X
        space = owner.feature_space
        return walk_points(X, space.lower, space.upper, self.directions, self.steps, self.step, rng)

    def _embed(self, answers: Answers, y: NDArray[np.int64]) -> FloatArray:
        if self.answers == "probabilities":
            return true_label_margin(answers.require_probabilities(self.name), y)
        return walk_distances(answers.labels, y, self.directions, self.steps)

    def _owner_features(
        self, owner: Owner, X: FloatArray, y: NDArray[np.int64], rng: np.random.Generator
    ) -> FloatArray:
        proba = owner.victim.predict_proba(self._queries_for(X, owner, rng))
        return self._embed(Answers(labels=np.argmax(proba, axis=1), probabilities=proba), y)


class MinGDInference(_RegressionTest):
    """Dataset inference with MinGD, the paper's white-box embedding (Maini et al. 2021, §5):
    for each revealed row and each wrong class, the smallest L1, L2 and L-inf perturbations
    that gradient descent on the suspect finds to reach that class.

    White box: the suspect must run here (a model directory or an ONNX file; an API is
    refused with the fix) and no query is spent. PyTorch networks are differentiated by
    autograd, other models by finite differences (``white_box.py``).

    **Departures from the paper**: ascent on log p(target) with a fixed number of steps and a
    bisection of the last one, rather than up to 500 small steps; distances in units of the
    box's width, sorted per norm (the paper keeps them per class); the L1 step moves the top
    5% of the gradient's coordinates. The regressor and the verdict are the other embeddings'.
    """

    #: the suspect is read, not queried; "labels" lets any local model in
    needs: ClassVar[Literal["labels"]] = "labels"

    def __init__(
        self,
        *,
        n_samples: int = 50,
        norms: tuple[str, ...] = NORMS,
        gd_steps: int = 20,
        reach: float = 0.25,
    ) -> None:
        super().__init__(n_samples=n_samples)
        norms = tuple(norms)
        if not norms or any(n not in NORMS for n in norms):
            raise InvalidInput(f"norms must be some of {', '.join(NORMS)}")
        whole_number("gd_steps", gd_steps)
        if not 0 < reach <= 1:
            raise InvalidInput("reach is a share of the box's diameter in (0, 1]")
        self.norms = norms
        self.gd_steps = gd_steps
        self.reach = reach

    @property
    def name(self) -> str:  # type: ignore[override]
        return "dataset-inference-mingd"

    def _queries_for(self, X: FloatArray, owner: Owner, rng: np.random.Generator) -> FloatArray:
        return X

    def _distances(self, model: Any, X: FloatArray, y: NDArray[np.int64]) -> DistanceAnswers:
        space = model.feature_space
        n_classes = int(np.asarray(model.classes_).size)
        distances, labels = mingd_distances(
            target_gradient(model),
            lambda rows: predicted_labels(model, rows),
            X,
            y,
            n_classes,
            np.asarray(space.lower, dtype=np.float64),
            np.asarray(space.upper, dtype=np.float64),
            norms=self.norms,
            steps=self.gd_steps,
            reach=self.reach,
        )
        how = "autograd" if torch_module(model) is not None else "finite differences"
        return DistanceAnswers(labels=labels, distances=distances, gradients=how)

    def _owner_features(
        self, owner: Owner, X: FloatArray, y: NDArray[np.int64], rng: np.random.Generator
    ) -> FloatArray:
        return self._embed(self._distances(owner.victim, X, y), y)

    def _embed(self, answers: Answers, y: NDArray[np.int64]) -> FloatArray:
        if not isinstance(answers, DistanceAnswers) or answers.distances is None:
            raise InvalidInput(f"{self.name} scores MinGD distances, not an API's answers")
        return answers.distances

    def _read(self, evidence: Evidence, oracle: Oracle) -> Answers:
        return self._distances(local_model(oracle, self.name), evidence.X, evidence.data["y"])

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        p, details = super().judge(statistic, evidence, answers, null, mode)
        if isinstance(answers, DistanceAnswers):
            details["gradients"] = answers.gradients
        return p, details
