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
    """Columns whose weights are identifiable: all but the first level of each one-hot group."""
    drop = {group.columns[0] for group in space.categorical}
    return np.asarray([i for i in range(space.n_features) if i not in drop], dtype=np.intp)


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


def usable_rows(P: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Rows that carry at least one log-ratio: two or more non-zero probabilities."""
    return np.asarray((P > TINY).sum(axis=1) >= 2)


def gather_rows(
    ctx: AttackContext,
    n_first: int,
    rank_needed: int,
    cols: NDArray[np.intp],
    *,
    all_classes: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Query until the usable rows span ``rank_needed`` dimensions (or the budget ends).

    With ``all_classes`` a row is usable only when no probability is 0.
    """
    X, P = sample_informative(ctx, n_first)
    shrink = 1.0
    while True:
        usable = np.all(P > TINY, axis=1) if all_classes else usable_rows(P)
        rank = int(np.linalg.matrix_rank(design(X[usable], cols))) if usable.any() else 0
        if rank >= rank_needed:
            return X[usable], P[usable]
        missing = rank_needed - rank
        if ctx.budget_left < missing:
            raise AttackFailed(
                f"only {rank} of {rank_needed} independent equations after {ctx.oracle.queries} queries "
                f"(answers underflowed to 0); raise the budget by at least {missing}"
            )
        shrink *= 0.5
        X2, P2 = sample_informative(ctx, missing, shrink=shrink)
        X, P = np.vstack([X, X2]), np.vstack([P, P2])


def solve_centred_logits(
    A: NDArray[np.float64], P: NDArray[np.float64], decimals: int | None = None
) -> NDArray[np.float64]:
    """Least-squares weights Θ (columns of A × classes), centred over classes, from log P.

    Without zeros: log p_i − mean_k log p_k = (Θ x̃)_i − mean, one solve for all classes.
    With zeros (underflow, rounding): each non-zero p_i gives log p_i − log p_top =
    (θ_i − θ_top)·x̃ against the row's top class; zeros give nothing.
    Rounded to ``decimals``: each log-ratio is weighted by the inverse of its error,
    about sqrt((δ/p_i)² + (δ/p_top)²) with δ half the last decimal.
    """
    if np.all(P > TINY) and decimals is None:
        L = np.log(P)
        theta, *_ = np.linalg.lstsq(A, L - L.mean(axis=1, keepdims=True), rcond=None)
        return np.asarray(theta)
    p = A.shape[1]
    c = P.shape[1]
    top = np.argmax(P, axis=1)
    rows, cls = np.nonzero((P > TINY) & (np.arange(c)[None, :] != top[:, None]))
    M = np.zeros((rows.size + p, c * p))
    for eq, (r, i) in enumerate(zip(rows, cls, strict=True)):
        M[eq, i * p : (i + 1) * p] = A[r]
        M[eq, top[r] * p : (top[r] + 1) * p] -= A[r]
    rhs = np.concatenate([np.log(P[rows, cls]) - np.log(P[rows, top[rows]]), np.zeros(p)])
    for j in range(p):  # gauge: the weights sum to zero over classes
        M[rows.size + j, j::p] = 1.0
    if decimals is not None:
        delta = 0.5 * 10.0 ** (-decimals)
        weight = 1.0 / np.hypot(delta / P[rows, cls], delta / P[rows, top[rows]])
        weight = np.concatenate([weight / weight.max(), np.ones(p)])
        M *= weight[:, None]
        rhs = rhs * weight
    theta, *_ = np.linalg.lstsq(M, rhs, rcond=None)
    return np.asarray(theta.reshape(c, p).T)


class _LinearEquationSolving(ExtractionAttack):
    """Shared by the binary and multinomial attacks: a linear solve on log-probabilities."""

    needs_probabilities: ClassVar[bool] = True
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
        X, P = gather_rows(ctx, n, cols.size + 1, cols)
        theta = solve_centred_logits(design(X, cols), P, decimals)
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
    kind = "multinomial"


class OvREquationSolving(ExtractionAttack):
    """One-vs-rest logistic regression by non-linear least squares (Tramèr et al. 2016, §4.1.2).

    Hyperparameters: ``queries`` (first batch; default ⌈c(p+1)/(c−1)⌉ with p identifiable
    columns), ``restarts`` (random starting points tried after four fixed ones when the
    fit does not reach ``tol``), ``tol`` (residual cost per row that counts as consistent).
    """

    name = "eq-ovr"
    needs_probabilities: ClassVar[bool] = True

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
            theta, cost, warm = self._solve(X, P, cols, ctx.rng, warm)
            rounds += 1
            consistent = cost < self.tol * X.shape[0]
            if consistent or ctx.budget_left == 0:
                break
            # Not yet a consistent solution: a few more equations, then solve again.
            extra = min(ctx.budget_left, max(1, math.ceil(0.05 * X.shape[0])))
            X2, P2 = sample_informative(ctx, extra)
            keep = np.all(P2 > TINY, axis=1)
            X, P = np.vstack([X, X2[keep]]), np.vstack([P, P2[keep]])
        ctx.notes["solver_cost"] = float(cost)
        ctx.notes["solver_rounds"] = rounds
        ctx.notes["consistent"] = bool(consistent)
        coef, intercept = expand(theta, cols, space.n_features)
        return StolenLinearModel(kind="ovr").set_parameters(coef, intercept, np.arange(c))

    def _solve(
        self,
        X: NDArray[np.float64],
        P: NDArray[np.float64],
        cols: NDArray[np.intp],
        rng: np.random.Generator,
        warm: NDArray[np.float64] | None,
    ) -> tuple[NDArray[np.float64], float, NDArray[np.float64]]:
        """θ (classes × identifiable columns + bias) and the residual cost of the fit."""
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

        starts: list[NDArray[np.float64]]
        if warm is not None:
            # the previous round's normalisers, new rows from the middle
            starts = [np.concatenate([warm, np.zeros(n_rows - warm.size)])]
        else:
            starts = [np.full(n_rows, v) for v in (0.0, -3.0, 3.0, -8.0)]
            starts += [
                np.asarray(rng.normal(scale=3.0, size=n_rows), dtype=np.float64) for _ in range(self.restarts)
            ]
        best: Any = None
        for start in starts:
            fit = least_squares(
                residuals,
                start,
                jac=jacobian,
                method="lm",
                xtol=1e-15,
                ftol=1e-15,
                gtol=1e-15,
                max_nfev=300,
            )
            if best is None or fit.cost < best.cost:
                best = fit
            if best.cost < self.tol * n_rows:
                break
        Z, _ = logits(best.x)
        theta_s, *_ = np.linalg.lstsq(As, Z, rcond=None)
        return theta_s.T / scale[None, :], float(best.cost), np.asarray(best.x)
