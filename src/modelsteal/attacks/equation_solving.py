"""Equation-solving attacks on logistic models (Tramèr et al., USENIX Security 2016, §4.1).

Tramèr, Zhang, Juels, Reiter, Ristenpart. "Stealing Machine Learning Models via
Prediction APIs". When an API returns class probabilities, each answer is a set of
equations in the model's parameters.

* Binary logistic regression: log(p1/p0) = w·x + b is linear; d+1 queries in general
  position give w and b exactly (the paper's count).
* Multinomial (softmax) regression: log(p_i/p_j) = (w_i − w_j)·x + (b_i − b_j) is linear
  too. **Departure from the paper**, which solved a non-linear system with up to c(d+1)
  queries: we solve the centred log-probabilities, log p_i − mean_k log p_k, by linear
  least squares, exact from **d+1** queries for any number of classes (softmax is blind
  to a shift shared by all classes, so the centred weights are the identifiable ones).
* One-vs-rest: p_i = σ(z_i)/Σ_j σ(z_j) is not linear in the parameters. **Departure:**
  the paper handed the whole system to a generic solver; we use variable projection.
  For a row's unknown normaliser S = Σ_j σ(z_j), the logits z_i = logit(S·p_i) are linear
  in the weights, so Levenberg–Marquardt searches only one scalar per row and the weights
  follow by least squares (650 unknowns on digits become 73; seconds instead of minutes).
  Each answer carries c−1 independent equations, so we start from ⌈c(d+1)/(c−1)⌉
  queries (the paper used up to c(d+1)) and, while the equations are not yet consistent,
  add 5% more rows and solve again, within the budget.

Categorical features arrive one-hot encoded; their columns always sum to one, so one
column per group is redundant with the bias. We solve for the identifiable parameters
only (the first level of each group folded into the bias), which needs
d+1−(number of groups) queries; the default still sends d+1.

Queries are drawn uniformly from the published feature space. A probability of exactly
0 (an underflow, or rounding) carries no equation: the linear attacks use every other
entry of the row (log-ratios to the row's top class); when too few equations remain,
more points are drawn closer to the centre of the space, within the budget. When the API
publishes that it rounds to n decimals, the linear attacks default to 10(d+1) queries
and weight each log-ratio by its precision (weighted least squares).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import least_squares

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.errors import AttackFailed, InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.info import ModelInfo
from modelsteal.stolen.common import sigmoid
from modelsteal.stolen.linear import StolenLinearModel

TINY = 1e-300  # below this a probability is an underflow and its logarithm is useless
ROUNDED_FACTOR = 10  # rounded answers: by default, 10(d+1) queries for a least-squares fit


def identifiable_columns(space: FeatureSpace) -> NDArray[np.intp]:
    """Columns whose weights are identifiable.

    All but the first level of each one-hot group (the group's columns sum to one, like
    the bias) and all but constant columns (a zero-width bound: the bias absorbs them).
    """
    drop = {group.columns[0] for group in space.categorical}
    cont = set(space.continuous_columns.tolist())
    flat = {int(i) for i in np.flatnonzero(space.upper <= space.lower) if int(i) in cont}
    return np.asarray([i for i in range(space.n_features) if i not in drop | flat], dtype=np.intp)


def design(X: NDArray[np.float64], cols: NDArray[np.intp]) -> NDArray[np.float64]:
    """Rows [x_cols, 1]: the linear system's matrix."""
    return np.hstack([X[:, cols], np.ones((X.shape[0], 1))])


def expand(
    theta: NDArray[np.float64], cols: NDArray[np.intp], d: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Identifiable parameters (rows of classes, columns [cols..., bias]) to full coef/intercept."""
    coef = np.zeros((theta.shape[0], d))
    coef[:, cols] = theta[:, :-1]
    return coef, theta[:, -1].copy()


def answer_precision(P: NDArray[np.float64]) -> float:
    """Absolute error of the answers' probabilities: float32 when every value is one, else float64.

    A binary model's smaller probability is often computed as 1 − p, so its error is
    absolute (about one unit in the last place of 1), not relative.
    """
    finite = P[np.isfinite(P)]
    if finite.size >= 4 and np.all(finite.astype(np.float32).astype(np.float64) == finite):
        return float(np.finfo(np.float32).eps)
    return float(np.finfo(np.float64).eps)


def balance_floor(eps: float) -> float:
    """The smallest probability a planned query may produce and still carry a precise equation."""
    return 1e-9 if eps < 1e-10 else 1e-4


def _balance(P: NDArray[np.float64], floor: float) -> tuple[int, float]:
    """How balanced an answer is: classes at or above ``floor``, then its smallest log-probability."""
    row = np.asarray(P, dtype=np.float64)
    return int(np.sum(row >= floor)), float(np.log(max(float(row.min()), TINY)))


@dataclass
class _Rows:
    """The queries sent so far and their answers (a growing design)."""

    X: list[NDArray[np.float64]] = field(default_factory=list)
    P: list[NDArray[np.float64]] = field(default_factory=list)

    def ask(self, ctx: AttackContext, X: NDArray[np.float64]) -> NDArray[np.float64]:
        P = ctx.oracle.query(X).require_probabilities("equation solving")
        self.X.append(X)
        self.P.append(P)
        return P

    def arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return np.vstack(self.X), np.vstack(self.P)


def _balanced_base(
    ctx: AttackContext, rows: _Rows, floor: float, spend: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A point of the box whose answer has no probability below ``floor``, and its answer.

    The box centre first (one query). When the centre saturates, a few uniform points
    (each an equation too); the most balanced wins, or a bisection on a segment between
    two of them with different top classes (the decision boundary, where no class
    dominates, lies between them). At most ``spend`` queries.
    """
    space = ctx.info.feature_space
    n_classes = ctx.info.n_classes
    x0 = space.center()[None, :]
    P0 = rows.ask(ctx, x0)
    if _balance(P0[0], floor)[0] == n_classes or spend <= 1:
        return x0[0], P0[0]
    m = min(8, spend - 1)
    Xu = space.sample_uniform(m, ctx.rng)
    Pu = rows.ask(ctx, Xu)
    Xc, Pc = np.vstack([x0, Xu]), np.vstack([P0, Pu])
    scores = [_balance(row, floor) for row in Pc]
    best = max(range(len(scores)), key=lambda i: scores[i])
    left = spend - 1 - m
    tops = np.argmax(Pc, axis=1)
    pairs = [(i, j) for i in range(len(tops)) for j in range(i) if tops[i] != tops[j]]
    if scores[best][0] == n_classes or not pairs or left < 1:
        return Xc[best], Pc[best]
    a, b = Xc[pairs[0][0]].copy(), Xc[pairs[0][1]].copy()
    top_a = tops[pairs[0][0]]
    for _ in range(min(left, 40)):
        mid = (a + b) / 2.0
        for group in space.categorical:  # a one-hot group keeps one end's level
            cols = list(group.columns)
            mid[cols] = a[cols]
        Pm = rows.ask(ctx, mid[None, :])[0]
        score = _balance(Pm, floor)
        if score > scores[best]:
            Xc, Pc = np.vstack([Xc, mid]), np.vstack([Pc, Pm])
            scores.append(score)
            best = len(scores) - 1
        if score[0] == n_classes:
            break
        if np.argmax(Pm) == top_a:
            a = mid
        else:
            b = mid
    return Xc[best], Pc[best]


def _coordinate_steps(
    space: Any, base: NDArray[np.float64], cont: list[int], one_hot: bool
) -> tuple[list[NDArray[np.float64]], dict[int, float]]:
    """One point per unknown from ``base``: each continuous column in ``cont`` a sixteenth of its
    range towards its farther bound, and (with ``one_hot``) each group to each other level.
    Also each continuous column's step, which a shorter retry divides."""
    span = space.upper - space.lower
    steps: list[NDArray[np.float64]] = []
    step_of: dict[int, float] = {}
    for j in cont:
        towards = 1.0 if space.upper[j] - base[j] >= base[j] - space.lower[j] else -1.0
        step_of[j] = towards * span[j] / 16.0
        x = base.copy()
        x[j] += step_of[j]
        steps.append(x)
    for group in space.categorical if one_hot else ():
        gcols = list(group.columns)
        current = gcols[int(np.argmax(base[gcols]))]
        for c in gcols:
            if c != current:
                x = base.copy()
                x[gcols] = 0.0
                x[c] = 1.0
                steps.append(x)
    return steps, step_of


def planned_rows(
    ctx: AttackContext,
    n: int,
    cols: NDArray[np.intp],
    *,
    coordinate_steps: bool = True,
    spread: float = 1 / 16,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Queries planned so that no answer underflows: a balanced base and one step per unknown.

    The base is the box centre (or, when it saturates, the most balanced point found
    near the decision boundary). Each further point moves one identifiable coordinate:
    a continuous feature by 1/16 of its range towards its farther bound, or a one-hot
    group to another level. A step whose answer falls below the balance floor is taken
    again at an eighth of its length, within the budget. Queries left in the budget after
    that go to points near the base, each one more equation. Every answer's finite
    log-ratios are used by the solver; none is thrown away.

    Without ``coordinate_steps`` every point after the base is uniform in the box with
    every level dealt out (see :func:`_near`): the one-vs-rest solver needs each unknown
    in many rows, because each row brings an unknown normaliser of its own, and points
    far apart, where the sigmoids' curvature tells the normalisers apart.
    """
    space = ctx.info.feature_space
    rows = _Rows()
    floor = balance_floor(float(np.finfo(np.float64).eps))
    base, p_base = _balanced_base(ctx, rows, floor, max(1, n - cols.size))
    floor = balance_floor(answer_precision(p_base[None, :]))
    onehot = {c for g in space.categorical for c in g.columns}
    cont = [int(j) for j in cols if int(j) not in onehot]
    if not coordinate_steps:
        cont = []
    steps, step_of = _coordinate_steps(space, base, cont, coordinate_steps)
    budget_steps = min(len(steps), ctx.budget_left)
    if budget_steps:
        X = np.asarray(steps[:budget_steps])
        P = rows.ask(ctx, X)
        # shorter continuous steps where an answer fell below the floor
        for _ in range(4):
            low = [
                j
                for j, row in zip(cont[: min(len(cont), budget_steps)], P, strict=False)
                if row.min() < floor and j in step_of
            ]
            if not low or ctx.budget_left < len(low):
                break
            for j in low:
                step_of[j] /= 8.0
            X = np.asarray([base + step_of[j] * np.eye(space.n_features)[j] for j in low])
            P_new = rows.ask(ctx, X)
            cont = low
            P = P_new
            budget_steps = len(low)
    spare = min(ctx.budget_left, n - sum(x.shape[0] for x in rows.X))
    if spare > 0:
        rows.ask(ctx, _near(space, base, spare, ctx.rng, spread))
    return rows.arrays()


def _near(
    space: FeatureSpace, base: NDArray[np.float64], n: int, rng: np.random.Generator, spread: float = 1 / 16
) -> NDArray[np.float64]:
    """``n`` points around ``base``: continuous features within ``spread`` of their range
    of it (``spread`` 1: uniform in the box), and each one-hot group's levels dealt out in
    shuffled rounds, so that every level occurs (⌊n/levels⌋ or one more times) — uniform
    levels would miss some of a group of 42 in a hundred draws."""
    X = np.repeat(base[None, :], n, axis=0)
    cont = space.continuous_columns
    lo, hi = space.lower[cont], space.upper[cont]
    if spread >= 1.0:
        X[:, cont] = rng.uniform(lo, hi, size=(n, cont.size))
    else:
        X[:, cont] = base[cont] + rng.uniform(-1.0, 1.0, size=(n, cont.size)) * (hi - lo) * spread
    for group in space.categorical:
        cols = np.asarray(group.columns)
        rounds = -(-n // cols.size)
        deal = np.concatenate([rng.permutation(cols.size) for _ in range(rounds)])[:n]
        X[:, cols] = 0.0
        X[np.arange(n), cols[deal]] = 1.0
    return np.asarray(space.clip(X))


def sample_informative(
    ctx: AttackContext, n: int, *, shrink: float = 1.0
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Query ``n`` uniform points (``shrink`` scales the box around its centre)."""
    space = ctx.info.feature_space
    X = space.sample_uniform(n, ctx.rng)
    if shrink != 1.0:
        center = space.center()
        cont = space.continuous_columns
        X[:, cont] = center[cont] + shrink * (X[:, cont] - center[cont])
    P = ctx.oracle.query(X).require_probabilities("equation solving")
    return X, P


def equation_rank(A: NDArray[np.float64], P: NDArray[np.float64], *, count: str = "classes") -> int:
    """Independent equations the answers give.

    ``count="classes"``: on the centred weights of every class (at most (c−1)·p); each row
    gives log p_i − log p_top for its non-zero classes. ``"rows"``: the design rank of the
    rows with two or more non-zero classes; ``"whole"``: of the rows with no zero at all
    (the one-vs-rest solver needs whole rows).
    """
    if count == "classes":
        if bool(np.all(P > TINY)):
            # every row brings its c−1 ratios: the system is I_(c−1) ⊗ A up to row operations,
            # so its rank is (c−1)·rank(A) (a 785×785 SVD on MNIST, not a 7,065×7,850 one)
            return (P.shape[1] - 1) * int(np.linalg.matrix_rank(A))
        M, _ = _ratio_system(A, P)
        return int(np.linalg.matrix_rank(M)) if M.shape[0] else 0
    usable = usable_mask(P, whole=count == "whole")
    return int(np.linalg.matrix_rank(A[usable])) if usable.any() else 0


def usable_mask(P: NDArray[np.float64], *, whole: bool) -> NDArray[np.bool_]:
    """Rows that carry an equation: no zero (``whole``), or at least two non-zero classes."""
    return np.asarray(np.all(P > TINY, axis=1) if whole else (P > TINY).sum(axis=1) >= 2)


def _ratio_system(
    A: NDArray[np.float64], P: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rows (θ_i − θ_top)·x̃ = log p_i − log p_top over every non-zero p_i of every answer."""
    p = A.shape[1]
    c = P.shape[1]
    top = np.argmax(P, axis=1)
    rows, cls = np.nonzero((P > TINY) & (np.arange(c)[None, :] != top[:, None]))
    M = np.zeros((rows.size, c * p))
    idx = np.arange(rows.size)
    for k in range(p):
        M[idx, cls * p + k] = A[rows, k]
        M[idx, top[rows] * p + k] -= A[rows, k]
    rhs = np.log(P[rows, cls]) - np.log(P[rows, top[rows]])
    return M, rhs


def gather_rows(
    ctx: AttackContext,
    n_first: int,
    rank_needed: int,
    cols: NDArray[np.intp],
    *,
    all_classes: bool = False,
    planned: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Query until the answers give ``rank_needed`` independent equations (or the budget ends).

    ``planned``: the first ``n_first`` queries follow :func:`planned_rows`; otherwise they
    are uniform. More rows, drawn ever closer to the centre of the box with every level
    dealt out, follow while equations are missing.
    """
    c = ctx.info.n_classes
    if planned:
        X, P = planned_rows(
            ctx, n_first, cols, coordinate_steps=not all_classes, spread=1.0 if all_classes else 1 / 16
        )
    else:
        X, P = sample_informative(ctx, n_first)
    # Exact answers must determine every class's weights; a rounded fit is a least-squares
    # estimate, and asks only that the points span the space.
    per_class = planned and not all_classes
    count = "classes" if per_class else "whole" if all_classes else "rows"
    need = rank_needed * (c - 1) if per_class else rank_needed
    shrink = 1.0
    while True:
        rank = equation_rank(design(X, cols), P, count=count)
        if rank >= need:
            usable = usable_mask(P, whole=all_classes)
            return X[usable], P[usable]
        per_row = c - 1 if per_class else 1
        missing = -(-(need - rank) // per_row)
        if ctx.budget_left < missing:
            zeros = int(np.sum(P <= TINY))
            why = (
                f"{zeros} probabilities were 0 (rounded or underflowed)"
                if zeros
                else "the answers are not yet independent"
            )
            raise AttackFailed(
                f"only {rank} of {need} independent equations after {ctx.oracle.queries} queries "
                f"({why}); raise the budget by at least {missing}"
            )
        shrink *= 0.5
        X2 = _near(ctx.info.feature_space, ctx.info.feature_space.center(), missing, ctx.rng, spread=shrink)
        P2 = ctx.oracle.query(X2).require_probabilities("equation solving")
        X, P = np.vstack([X, X2]), np.vstack([P, P2])


def solve_centred_logits(
    A: NDArray[np.float64], P: NDArray[np.float64], decimals: int | None = None
) -> NDArray[np.float64]:
    """Least-squares weights Θ (columns of A × classes), centred over classes, from log P.

    When every answer is balanced (no probability under the floor of
    :func:`balance_floor`) and exact: log p_i − mean_k log p_k = (Θ x̃)_i − mean, one solve
    for all classes. Otherwise each non-zero p_i gives log p_i − log p_top =
    (θ_i − θ_top)·x̃ against the row's top class (zeros give nothing), weighted by the
    inverse of its error, about sqrt((δ/p_i)² + (δ/p_top)²): δ is half the last decimal
    when the API rounds, else the answers' own precision (:func:`answer_precision`).
    """
    eps = answer_precision(P)
    # Columns scaled to a common size: raw features run up to 1e5 beside one-hot 0/1, and
    # least squares loses that factor of precision on the rarely weighted equations.
    scale = np.maximum(np.abs(A).max(axis=0), 1e-300)
    As = A / scale
    if decimals is None and bool(np.all(balance_floor(eps) <= P)):
        L = np.log(P)
        theta, *_ = np.linalg.lstsq(As, L - L.mean(axis=1, keepdims=True), rcond=None)
        return np.asarray(theta / scale[:, None])
    p = A.shape[1]
    c = P.shape[1]
    M_ratio, rhs_ratio = _ratio_system(As, P)
    top = np.argmax(P, axis=1)
    rows, cls = np.nonzero((P > TINY) & (np.arange(c)[None, :] != top[:, None]))
    delta = 0.5 * 10.0 ** (-decimals) if decimals is not None else eps
    weight = 1.0 / np.hypot(delta / P[rows, cls], delta / P[rows, top[rows]])
    # the precise equations dominate; none is weighted to nothing (it may be the only one)
    weight = np.maximum(weight / weight.max(), 1e-6)
    gauge = np.zeros((p, c * p))
    for j in range(p):  # gauge: the weights sum to zero over classes
        gauge[j, j::p] = 1.0
    M = np.vstack([M_ratio * weight[:, None], gauge])
    rhs = np.concatenate([rhs_ratio * weight, np.zeros(p)])
    theta, *_ = np.linalg.lstsq(M, rhs, rcond=None)
    return np.asarray(theta.reshape(c, p).T / scale[:, None])


class _LinearEquationSolving(ExtractionAttack):
    """Shared by the binary and multinomial attacks: a linear solve on log-probabilities."""

    reads = "probabilities"
    kind: ClassVar[str] = "multinomial"

    def __init__(self, *, queries: int | None = None) -> None:
        if queries is not None and queries < 1:
            raise InvalidInput("queries must be >= 1")
        self.queries = queries

    def min_queries(self, info: ModelInfo) -> int:
        return info.feature_space.n_free_parameters + 1

    def default_queries(self, info: ModelInfo) -> int:
        return info.n_features + 1

    def _extract(self, ctx: AttackContext) -> StolenLinearModel:
        space = ctx.info.feature_space
        cols = identifiable_columns(space)
        decimals = ctx.info.output_mode.decimals
        default = self.default_queries(ctx.info) * (ROUNDED_FACTOR if decimals is not None else 1)
        n = min(self.queries or default, ctx.budget_left)
        X, P = gather_rows(ctx, n, cols.size + 1, cols, planned=decimals is None)
        theta = solve_centred_logits(design(X, cols), P, decimals)
        ctx.notes["smallest_probability"] = float(P.min())
        coef, intercept = expand(theta.T, cols, space.n_features)
        classes = np.arange(ctx.info.n_classes)
        if self.kind == "binary" or ctx.info.n_classes == 2:
            model = StolenLinearModel(kind="binary").set_parameters(
                coef[1:2] - coef[0:1], intercept[1:2] - intercept[0:1], classes
            )
        else:
            model = StolenLinearModel(kind="multinomial").set_parameters(coef, intercept, classes)
        ctx.notes["equations_rank"] = cols.size + 1
        return model


class LogisticEquationSolving(_LinearEquationSolving):
    """Binary logistic regression from d+1 probability answers (Tramèr et al. 2016, §4.1.1)."""

    name = "eq-logistic"
    targets = ("logreg",)
    kind = "binary"

    def check_oracle(self, info: ModelInfo) -> None:
        super().check_oracle(info)
        if info.n_classes != 2:
            raise InvalidInput(
                f"eq-logistic steals binary models and this one has {info.n_classes} classes; use eq-softmax or eq-ovr"
            )


class SoftmaxEquationSolving(_LinearEquationSolving):
    """Multinomial logistic regression from d+1 probability answers (after Tramèr et al. 2016, §4.1.2)."""

    name = "eq-softmax"
    targets = ("softmax",)
    kind = "multinomial"


#: Levenberg–Marquardt to the last digit, for at most 300 evaluations per start
LM_OPTIONS: dict[str, Any] = {"method": "lm", "xtol": 1e-15, "ftol": 1e-15, "gtol": 1e-15, "max_nfev": 300}


class OvREquationSolving(ExtractionAttack):
    """One-vs-rest logistic regression by non-linear least squares (Tramèr et al. 2016, §4.1.2).

    Hyperparameters: ``queries`` (first batch; default ⌈c(p+1)/(c−1)⌉ with p identifiable
    columns), ``restarts`` (random starting points tried after four fixed ones when the
    fit does not reach ``tol``), ``tol`` (residual cost per row that counts as consistent).
    """

    name = "eq-ovr"
    targets = ("ovr",)
    reads = "probabilities"

    def __init__(self, *, queries: int | None = None, restarts: int = 2, tol: float = 1e-16) -> None:
        if queries is not None and queries < 1:
            raise InvalidInput("queries must be >= 1")
        self.queries = queries
        self.restarts = restarts
        self.tol = tol

    def min_queries(self, info: ModelInfo) -> int:
        c = info.n_classes
        return math.ceil(c * (info.feature_space.n_free_parameters + 1) / max(c - 1, 1))

    def _extract(self, ctx: AttackContext) -> StolenLinearModel:
        info = ctx.info
        c, space = info.n_classes, info.feature_space
        if c < 3:
            raise InvalidInput("one-vs-rest needs three or more classes; for two, use eq-logistic")
        cols = identifiable_columns(space)
        p = cols.size + 1
        n = min(self.queries or self.min_queries(info), ctx.budget_left)
        X, P = gather_rows(ctx, n, p, cols, all_classes=True)
        rounds = 0
        warm: NDArray[np.float64] | None = None
        while True:
            # While the budget allows more rows, one start per round (more rows help more
            # than more starts); every start once the budget is spent.
            theta, cost, warm = self._solve(X, P, cols, ctx.rng, warm, exhaustive=ctx.budget_left == 0)
            rounds += 1
            consistent = cost < self.tol * X.shape[0]
            if consistent or ctx.budget_left == 0:
                break
            # Not yet a consistent solution: a few more equations, then solve again.
            extra = min(ctx.budget_left, max(1, math.ceil(0.05 * X.shape[0])))
            X2 = _near(space, space.center(), extra, ctx.rng, spread=1.0)
            P2 = ctx.oracle.query(X2).require_probabilities("equation solving")
            keep = np.all(P2 > TINY, axis=1)
            X, P = np.vstack([X, X2[keep]]), np.vstack([P, P2[keep]])
        ctx.notes["solver_cost"] = float(cost)
        ctx.notes["solver_rounds"] = rounds
        ctx.notes["consistent"] = bool(consistent)
        coef, intercept = expand(theta, cols, space.n_features)
        return StolenLinearModel(kind="ovr").set_parameters(coef, intercept, np.arange(c))

    def _starts(
        self,
        pmax: NDArray[np.float64],
        warm: NDArray[np.float64] | None,
        rng: np.random.Generator,
        *,
        exhaustive: bool,
    ) -> list[NDArray[np.float64]]:
        """Where the search for the rows' normalisers starts: the previous round's (new rows
        from the middle), then, when ``exhaustive``, the top class's logit shifted, constants
        and ``restarts`` random points."""
        n_rows = pmax.size
        starts: list[NDArray[np.float64]] = []
        if warm is not None:
            starts.append(np.concatenate([warm, np.zeros(n_rows - warm.size)]))
        if exhaustive:
            # the top class's logit: large where its probability is near 1
            odds = np.log(pmax) - np.log1p(-np.minimum(pmax, 1.0 - 1e-12))
            starts += [odds + v for v in (0.0, 2.0, -2.0)]
            starts += [np.full(n_rows, v) for v in (0.0, -3.0, 3.0, -8.0)]
            starts += [
                np.asarray(rng.normal(scale=3.0, size=n_rows), dtype=np.float64) for _ in range(self.restarts)
            ]
        elif warm is None:
            starts.append(np.log(pmax) - np.log1p(-np.minimum(pmax, 1.0 - 1e-12)))
        return starts

    def _solve(
        self,
        X: NDArray[np.float64],
        P: NDArray[np.float64],
        cols: NDArray[np.intp],
        rng: np.random.Generator,
        warm: NDArray[np.float64] | None,
        *,
        exhaustive: bool = True,
    ) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
        """θ (classes × identifiable columns + bias) and the residual cost of the fit.

        ``exhaustive``: try every starting point (else only the warm one, or the middle).
        """
        c = P.shape[1]
        A = design(X, cols)
        # A column scaling keeps Levenberg–Marquardt well conditioned on wide input ranges.
        scale = np.maximum(np.abs(A).max(axis=0), 1e-12)
        As = A / scale
        n_rows = A.shape[0]
        # Variable projection. p_i = u_i / S with u_i = σ(z_i) and S = Σ_j u_j, so for a
        # row's unknown normaliser S the logits z_i = logit(S·p_i) are linear in θ. Only the
        # n normalisers are searched non-linearly; θ follows by least squares. We keep
        # S·p_i < 1 through S = σ(t)/max_i p_i.
        Q, _ = np.linalg.qr(As)
        pmax = P.max(axis=1)

        def logits(t: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
            u = np.clip((sigmoid(t) / pmax)[:, None] * P, TINY, 1.0 - 1e-15)
            return np.log(u) - np.log1p(-u), u

        def project(M: NDArray[np.float64]) -> NDArray[np.float64]:
            return np.asarray(M - Q @ (Q.T @ M))

        def residuals(t: NDArray[np.float64]) -> NDArray[np.float64]:
            return project(logits(t)[0]).ravel()

        def jacobian(t: NDArray[np.float64]) -> NDArray[np.float64]:
            _, u = logits(t)
            dZ = (1.0 - sigmoid(t))[:, None] / (1.0 - u)  # d z[n, i] / d t[n]
            J = np.zeros((n_rows, c, n_rows))
            idx = np.arange(n_rows)
            J[idx, :, idx] = dZ
            Jf = J.reshape(n_rows, c * n_rows)
            return np.asarray(project(Jf).reshape(n_rows, c, n_rows).reshape(n_rows * c, n_rows))

        best: Any = None
        for start in self._starts(pmax, warm, rng, exhaustive=exhaustive):
            fit = least_squares(residuals, start, jac=jacobian, **LM_OPTIONS)
            if best is None or fit.cost < best.cost:
                best = fit
            if best.cost < self.tol * n_rows:
                break
        Z, _ = logits(best.x)
        theta_s, *_ = np.linalg.lstsq(As, Z, rcond=None)
        return theta_s.T / scale[None, :], float(best.cost), np.asarray(best.x)
