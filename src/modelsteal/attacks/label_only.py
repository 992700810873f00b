"""Attacks that need only the API's top-1 labels (Tramèr et al. 2016, §6).

* ``lowd-meek`` — Lowd and Meek, "Adversarial Learning" (KDD 2005), for binary linear
  classifiers, as Tramèr et al. use it as a baseline: find a boundary point by line search
  between two oppositely labelled points, step off it by δ along the direction that
  crosses the boundary, then for every feature find by line search along that feature
  where the label flips back. The crossing t_i gives w_i = -δ(w·u)/t_i, so every weight is
  known up to one common scale, which labels cannot reveal anyway. **Departures**: the
  reference direction is the line the boundary point was found on (not a feature whose
  weight must be known non-zero), and searches stay inside the published feature space;
  a feature whose crossing lies outside it gets weight 0.
* ``retrain-uniform``, ``retrain-linesearch``, ``retrain-adaptive`` — Tramèr et al.
  §6.2: query points, label them with the API, train a model of the victim's family.
  *uniform*: uniform points of the feature space. *line-search*: uniform points, then
  bisection between oppositely labelled pairs to place points next to the boundary; for
  a binary linear victim the boundary points then give the hyperplane itself (the null
  vector of [x, 1] through them), which is exact up to the bisection's precision.
  *adaptive*: rounds after active learning — each round queries the candidates the
  current copy is least sure of (smallest top-1 margin) plus a share of uniform points,
  then retrains. **Departures**: copies train in the cube the published box maps to, the
  adaptive candidates are uniform points (the paper used line searches towards the
  boundary too), and a victim that answers one class everywhere the attack looked yields
  a constant copy, reported in the notes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.errors import AttackFailed, InvalidInput
from modelsteal.oracle.info import ModelInfo
from modelsteal.stolen.label_copy import LabelCopy
from modelsteal.stolen.linear import StolenLinearModel
from modelsteal.stolen.mlp import StolenMLP
from modelsteal.victims.training import bounds_scaler

FloatArray = NDArray[np.float64]


def labels_of(ctx: AttackContext, X: FloatArray) -> NDArray[np.int64]:
    return ctx.oracle.query(X).labels


def find_both_classes(
    ctx: AttackContext, reserve: int, batch: int = 8
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Uniform points until two classes have answered, leaving ``reserve`` queries."""
    space = ctx.info.feature_space
    X = np.zeros((0, space.n_features))
    y = np.zeros(0, dtype=np.int64)
    while np.unique(y).size < 2:
        n = min(batch, ctx.budget_left - reserve)
        if n <= 0:
            raise AttackFailed(
                f"every one of {y.size} uniform points got the same label ({y[0] if y.size else '-'}); "
                "the victim answers one class almost everywhere in its feature space: raise the budget "
                "or start from points of your own"
            )
        Xn = space.sample_uniform(n, ctx.rng)
        X, y = np.vstack([X, Xn]), np.concatenate([y, labels_of(ctx, Xn)])
    return X, y


def bisect(
    ctx: AttackContext, a: FloatArray, b: FloatArray, label_a: int, steps: int
) -> tuple[FloatArray, FloatArray, list[FloatArray], list[int]]:
    """Shrink [a, b] (labels differ at the ends) ``steps`` times; return the bracket and what was asked."""
    asked: list[FloatArray] = []
    answers: list[int] = []
    for _ in range(steps):
        mid = 0.5 * (a + b)
        lab = int(labels_of(ctx, mid[None, :])[0])
        asked.append(mid)
        answers.append(lab)
        if lab == label_a:
            a = mid
        else:
            b = mid
    return a, b, asked, answers


def hyperplane_through(
    points: FloatArray, box_lower: FloatArray, box_span: FloatArray
) -> tuple[FloatArray, float]:
    """w, b (unit norm in cube units) of the hyperplane nearest to ``points`` (raw space)."""
    U = 2.0 * (points - box_lower) / box_span - 1.0
    A = np.hstack([U, np.ones((U.shape[0], 1))])
    _, _, Vt = np.linalg.svd(A, full_matrices=True)
    v = Vt[-1]
    w_u, b_u = v[:-1], v[-1]
    # back to raw inputs: u = 2(x - lo)/span - 1
    w = w_u * 2.0 / box_span
    b = b_u + float(w_u @ (-2.0 * box_lower / box_span - 1.0))
    return w, b


def linear_model_from(
    w: FloatArray, b: float, X: FloatArray, y: NDArray[np.int64], scale: float = 50.0
) -> StolenLinearModel:
    """A binary linear copy; orientation from the labels seen, steepness arbitrary (labels only)."""
    z = X @ w + b
    if np.mean((z > 0) == (y == 1)) < 0.5:
        w, b = -w, -b
    norm = max(float(np.abs(X @ w + b).max()), 1e-12)
    return StolenLinearModel(kind="binary").set_parameters(
        (w * scale / norm)[None, :], np.array([b * scale / norm]), np.arange(2)
    )


class LowdMeek(ExtractionAttack):
    """Binary linear classifiers from labels: one line search per feature (Lowd and Meek 2005)."""

    name = "lowd-meek"
    reads = "labels"
    targets = ("logreg",)

    def __init__(self, *, epsilon: float = 1e-9, offset: float = 1e-3) -> None:
        if not 0 < epsilon < 1 or not 0 < offset < 1:
            raise InvalidInput("epsilon and offset are fractions of the box, in (0, 1)")
        self.epsilon = epsilon
        self.offset = offset

    def steps(self) -> int:
        return math.ceil(math.log2(1.0 / self.epsilon))

    def min_queries(self, info: ModelInfo) -> int:
        return 2 + (info.n_features + 1) * (self.steps() + 2)

    def check_oracle(self, info: ModelInfo) -> None:
        super().check_oracle(info)
        if info.n_classes != 2:
            raise InvalidInput(
                f"lowd-meek steals binary linear models; this one has {info.n_classes} classes"
            )
        if info.feature_space.categorical:
            raise InvalidInput("lowd-meek searches continuous features; this model has one-hot features")

    def _extract(self, ctx: AttackContext) -> StolenLinearModel:
        space = ctx.info.feature_space
        d = space.n_features
        reserve = d * (self.steps() + 2) + self.steps()
        X, y = find_both_classes(ctx, reserve)
        pos, neg = X[y == 1][0], X[y == 0][0]
        a, b, asked, answers = bisect(ctx, neg, pos, 0, self.steps())
        x0 = 0.5 * (a + b)
        u = pos - neg
        u /= np.linalg.norm(u)
        span = np.where(space.upper > space.lower, space.upper - space.lower, 1.0)
        delta = self.offset * float(np.linalg.norm(span))
        # step off the boundary on the positive side, where w·u > 0
        x1 = np.clip(x0 + delta * u, space.lower, space.upper)
        shift = float((x1 - x0) @ u)
        w = np.zeros(d)
        for i in range(d):
            lo_end, hi_end = x1.copy(), x1.copy()
            lo_end[i], hi_end[i] = space.lower[i], space.upper[i]
            ends = labels_of(ctx, np.vstack([lo_end, hi_end]))
            # x1 is positive; the label flips on the side where w_i pushes z down
            if ends[0] == 0:
                far = lo_end
            elif ends[1] == 0:
                far = hi_end
            else:
                continue  # no crossing inside the box: |w_i| is below what the box can show
            near, _, _, _ = bisect(ctx, x1.copy(), far, 1, self.steps())
            t = float(near[i] - x1[i])
            if t != 0.0:
                w[i] = -shift / t  # w·(x1 + t e_i) + b = 0 with w·(x1 - x0) = shift (scale: w·u = 1)
        b0 = -float(w @ x0)
        ctx.notes["weights_found"] = int(np.count_nonzero(w))
        return linear_model_from(w, b0, np.vstack([X, np.asarray(asked)]), np.concatenate([y, answers]))


class _Retraining(ExtractionAttack):
    """Label the attack's points with the API and train a copy of the published family."""

    reads = "labels"

    def __init__(
        self, *, family: str | None = None, hidden: int | None = None, random_state: int | None = None
    ) -> None:
        self.family = family
        self.hidden = hidden
        self.random_state = random_state

    def min_queries(self, info: ModelInfo) -> int:
        return 2

    def _copy(self, info: ModelInfo, X: FloatArray, y: NDArray[np.int64], rng: np.random.Generator) -> Any:
        """Train the copy on (X, y) in the cube the box maps to; constant if one class was seen."""
        classes = np.unique(y)
        if classes.size < 2:
            return DummyClassifier(strategy="constant", constant=int(classes[0])).fit(X, y)
        family = self.family or info.family or "mlp"
        seed = int(rng.integers(0, 2**31 - 1))
        model: Any
        if family in ("logreg", "softmax", "ovr"):
            model = StolenLinearModel(kind="binary" if classes.size == 2 else "multinomial", C=1e4)
        elif family == "svm-rbf":
            model = SVC(kernel="rbf", C=100.0, gamma="scale", random_state=seed)
        else:
            sizes = info.details.get("hidden_layer_sizes") or [20]
            activation = info.details.get("activation", "relu")
            model = StolenMLP(hidden=self.hidden or int(sizes[0]), activation=activation, random_state=seed)
        return LabelCopy(Pipeline([("scale", bounds_scaler(info.feature_space)), ("model", model)])).fit(X, y)


class RetrainUniform(_Retraining):
    """Retraining on uniformly drawn points (Tramèr et al. 2016, §6.2)."""

    name = "retrain-uniform"

    def _extract(self, ctx: AttackContext) -> Any:
        X = ctx.info.feature_space.sample_uniform(ctx.budget_left, ctx.rng)
        y = labels_of(ctx, X)
        ctx.notes["classes_seen"] = int(np.unique(y).size)
        return self._copy(ctx.info, X, y, ctx.rng)


class RetrainLineSearch(_Retraining):
    """Retraining on uniform points plus points placed on the boundary by bisection (§6.2)."""

    name = "retrain-linesearch"

    def __init__(self, *, uniform_share: float = 0.2, steps: int = 20, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 < uniform_share <= 1 or steps < 1:
            raise InvalidInput("uniform_share must be in (0, 1] and steps >= 1")
        self.uniform_share = uniform_share
        self.steps = steps

    def _extract(self, ctx: AttackContext) -> Any:
        info = ctx.info
        n0 = max(2, int(self.uniform_share * ctx.budget_left))
        X = info.feature_space.sample_uniform(n0, ctx.rng)
        y = labels_of(ctx, X)
        if np.unique(y).size < 2:
            try:
                X2, y2 = find_both_classes(ctx, reserve=0)
                X, y = np.vstack([X, X2]), np.concatenate([y, y2])
            except AttackFailed:
                ctx.notes["classes_seen"] = 1
                return self._copy(info, X, y, ctx.rng)
        asked_X, asked_y = [X], [y]
        boundary: list[FloatArray] = []
        while ctx.budget_left >= self.steps:
            # a random oppositely labelled pair: one point of a rarer class, one of another
            label_a = int(ctx.rng.choice(np.unique(y)))
            a = X[y == label_a][ctx.rng.integers(0, np.sum(y == label_a))]
            others = X[y != label_a]
            b = others[ctx.rng.integers(0, others.shape[0])]
            a2, b2, pts, labs = bisect(ctx, a, b, label_a, self.steps)
            boundary.append(0.5 * (a2 + b2))
            asked_X.append(np.asarray(pts))
            asked_y.append(np.asarray(labs, dtype=np.int64))
        X_all, y_all = np.vstack(asked_X), np.concatenate(asked_y)
        ctx.notes["boundary_points"] = len(boundary)
        family = self.family or info.family
        d = info.n_features
        if (
            family == "logreg"
            and info.n_classes == 2
            and len(boundary) >= d
            and not info.feature_space.categorical
        ):
            span = np.where(
                info.feature_space.upper > info.feature_space.lower,
                info.feature_space.upper - info.feature_space.lower,
                1.0,
            )
            w, b = hyperplane_through(np.asarray(boundary), info.feature_space.lower, span)
            ctx.notes["hyperplane_from_boundary"] = True
            return linear_model_from(w, b, X_all, y_all)
        return self._copy(info, X_all, y_all, ctx.rng)


class RetrainAdaptive(_Retraining):
    """Rounds of the least certain candidates plus uniform points, retraining each round (§6.2)."""

    name = "retrain-adaptive"

    def __init__(
        self, *, rounds: int = 10, uniform_share: float = 0.25, pool_factor: int = 50, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if rounds < 1 or not 0 <= uniform_share <= 1 or pool_factor < 1:
            raise InvalidInput("rounds >= 1, uniform_share in [0, 1], pool_factor >= 1")
        self.rounds = rounds
        self.uniform_share = uniform_share
        self.pool_factor = pool_factor

    def _extract(self, ctx: AttackContext) -> Any:
        info = ctx.info
        space = info.feature_space
        per_round = max(1, ctx.budget_left // (self.rounds + 1))
        X = space.sample_uniform(per_round, ctx.rng)
        y = labels_of(ctx, X)
        model = self._copy(info, X, y, ctx.rng)
        ctx.checkpoint(model)
        while ctx.budget_left > 0:
            n = min(per_round, ctx.budget_left)
            n_uniform = round(self.uniform_share * n)
            pool = space.sample_uniform(self.pool_factor * n, ctx.rng)
            if hasattr(model, "margin"):
                pick = np.argsort(model.margin(pool), kind="stable")[: n - n_uniform]
            else:  # a constant copy: nothing to be unsure of yet
                pick = np.arange(n - n_uniform)
            Xn = np.vstack([pool[pick], space.sample_uniform(n_uniform, ctx.rng)])
            X, y = np.vstack([X, Xn]), np.concatenate([y, labels_of(ctx, Xn)])
            model = self._copy(info, X, y, ctx.rng)
            ctx.checkpoint(model)
        ctx.notes["classes_seen"] = int(np.unique(y).size)
        return model
