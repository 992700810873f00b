"""Logistic models behind feature extraction: recover the bins, then solve (Tramèr et al. 2016, §5).

Tramèr, Zhang, Juels, Reiter, Ristenpart. "Stealing Machine Learning Models via Prediction
APIs", the online attacks on Amazon Machine Learning: the served pipeline bins each number
into quantiles (one-hot) before a logistic model and publishes only the raw input schema.
The attack first finds every bin boundary of every number with line searches that move one
feature at a time, then solves the logistic model on the recovered encoding.

* **Boundaries.** Along feature j (the others held at a base point) the answer is constant
  within a bin and changes across a boundary (two bins with exactly equal weights would
  hide it; trained weights are never equal). "Changes" means log-probabilities more than
  1e-9 apart: the same encoding can come back a few ulps apart from another place in a
  batch. Both ends of the range are asked; an interval
  whose ends answer differently holds at least one boundary and is halved until it is
  narrower than ``epsilon`` of the range; one whose ends agree holds none, since a bin is
  an interval. Midpoints of every open interval of every feature go out in one batch per
  round. A boundary found in ``(a, b]`` becomes the threshold ``a``: values above it fall
  in the upper bin, as the binner's ``x ≥ edge`` does for every value outside ``(a, edge)``.
* **The model.** Every point asked during the line searches is already an equation of the
  binned model: its bins are now known, and every bin of every feature was visited (both
  sides of each boundary were asked). Text columns, which stay one-hot, take one query per
  level beyond the base's. The weights follow by least squares on the centred
  log-probabilities (softmax) or the log-odds (binary), as in equation solving.

**Departures from the paper**: the paper (its Table 7) reports the queries of its line
searches plus equation solving; we reuse the line-search answers as equations instead of
asking new points, and search all features' intervals in parallel rounds. The numbers need
not be binned all alike: each feature's boundaries are found on their own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.attacks.equation_solving import solve_centred_logits
from modelsteal.errors import AttackFailed, InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.info import ModelInfo
from modelsteal.stolen.binned import StolenBinnedLinear

#: the line searches stop when a boundary is located within this share of its feature's range
DEFAULT_EPSILON = 1e-5
#: answers whose log-probabilities differ by less than this are the same bin: the same
#: encoding can come back a few ulps apart from a different place in the server's batch
SAME_BIN = 1e-9


def differs(pa: NDArray[np.float64], pb: NDArray[np.float64]) -> bool:
    """Whether two answers come from different encodings (bins), beyond floating-point noise."""
    la = np.log(np.maximum(pa, 1e-300))
    lb = np.log(np.maximum(pb, 1e-300))
    return bool(np.max(np.abs(la - lb)) > SAME_BIN)


def base_point(space: FeatureSpace) -> NDArray[np.float64]:
    """The box centre, every text column at its first level."""
    x = space.center().copy()
    for group in space.categorical:
        x[list(group.columns)] = 0.0
        x[group.columns[0]] = 1.0
    return np.asarray(x)


class BinnedEquationSolving(ExtractionAttack):
    """A logistic model behind quantile binning: line searches for the bins, then equations (§5).

    Hyperparameters: ``epsilon`` — each boundary is located within this share of its
    feature's range (default 1e-5).
    """

    name = "eq-binned"
    reads = "probabilities"
    #: linear models behind quantile-binned numbers (``train --feature-extraction quantile-bins``)
    targets = ("logreg", "softmax")

    def __init__(self, *, epsilon: float = DEFAULT_EPSILON) -> None:
        if not 0 < epsilon < 0.5:
            raise InvalidInput("epsilon must be between 0 and 0.5 (a share of each feature's range)")
        self.epsilon = float(epsilon)

    @staticmethod
    def _numbers(space: FeatureSpace) -> list[int]:
        return [int(c) for c in space.continuous_columns if space.upper[c] > space.lower[c]]

    def min_queries(self, info: ModelInfo) -> int:
        space = info.feature_space
        return 2 * len(self._numbers(space)) + sum(len(g.columns) - 1 for g in space.categorical)

    def _extract(self, ctx: AttackContext) -> StolenBinnedLinear:
        space = ctx.info.feature_space
        base = base_point(space)
        numbers = self._numbers(space)
        levels = [c for g in space.categorical for c in g.columns[1:]]
        rows: list[NDArray[np.float64]] = []
        answers: list[NDArray[np.float64]] = []

        def ask(X: NDArray[np.float64]) -> NDArray[np.float64]:
            P = ctx.oracle.query(X).require_probabilities(self.name)
            rows.append(X)
            answers.append(P)
            return P

        # text levels first: they are few and the equations need them
        if levels:
            X = np.repeat(base[None, :], len(levels), axis=0)
            for i, c in enumerate(levels):
                group = next(g for g in space.categorical if c in g.columns)
                X[i, list(group.columns)] = 0.0
                X[i, c] = 1.0
            ask(X)
        thresholds = self._boundaries(ctx, space, base, numbers, ask)
        X, P = np.vstack(rows), np.vstack(answers)
        return self._solve(ctx, space, numbers, thresholds, X, P)

    def _boundaries(
        self, ctx: AttackContext, space: FeatureSpace, base: NDArray[np.float64], numbers: list[int], ask: Any
    ) -> dict[int, list[float]]:
        """Every bin boundary of every number, each as the last value below it (rounds of bisection)."""

        def points(j_values: list[tuple[int, float]]) -> NDArray[np.float64]:
            X = np.repeat(base[None, :], len(j_values), axis=0)
            for i, (j, v) in enumerate(j_values):
                X[i, j] = v
            return X

        ends = [(j, float(space.lower[j])) for j in numbers] + [(j, float(space.upper[j])) for j in numbers]
        P = ask(points(ends))
        n = len(numbers)
        open_: list[tuple[int, float, float, NDArray[np.float64], NDArray[np.float64]]] = [
            (j, ends[k][1], ends[n + k][1], P[k], P[n + k])
            for k, j in enumerate(numbers)
            if differs(P[k], P[n + k])
        ]
        found: dict[int, list[float]] = {j: [] for j in numbers}
        unresolved = 0
        while open_:
            wide = []
            for iv in open_:
                j, a, b = iv[0], iv[1], iv[2]
                if b - a > self.epsilon * (space.upper[j] - space.lower[j]):
                    wide.append(iv)
                else:
                    found[j].append(a)
            if not wide:
                break
            if ctx.budget_left < len(wide):
                # out of budget: each open interval keeps its lower end as the threshold
                unresolved = len(wide)
                for j, a, _, _, _ in wide:
                    found[j].append(a)
                break
            mids = [(j, (a + b) / 2.0) for j, a, b, _, _ in wide]
            Pm = ask(points(mids))
            open_ = []
            for (j, a, b, pa, pb), (_, m), pm in zip(wide, mids, Pm, strict=True):
                if differs(pa, pm):
                    open_.append((j, a, m, pa, pm))
                if differs(pm, pb):
                    open_.append((j, m, b, pm, pb))
        ctx.notes["boundaries"] = int(sum(len(v) for v in found.values()))
        ctx.notes["unresolved_boundaries"] = unresolved
        return {j: sorted(v) for j, v in found.items()}

    def _solve(
        self,
        ctx: AttackContext,
        space: FeatureSpace,
        numbers: list[int],
        thresholds: dict[int, list[float]],
        X: NDArray[np.float64],
        P: NDArray[np.float64],
    ) -> StolenBinnedLinear:
        c = ctx.info.n_classes
        kind = "binary" if c == 2 else "multinomial"
        model = StolenBinnedLinear(kind=kind)
        probe = np.zeros((1, sum(len(t) + 1 for t in thresholds.values()) + space.n_features - len(numbers)))
        model.set_parameters(
            n_features=space.n_features,
            binned={j: np.asarray(t) for j, t in thresholds.items()},
            coef=probe,
            intercept=np.zeros(1),
            classes=np.arange(c),
        )
        E = model.encode(X)
        # identifiable columns: drop each binned feature's first bin and each text group's
        # first level (each set sums to one, like the bias)
        drop: list[int] = []
        start = 0
        for t in thresholds.values():
            drop.append(start)
            start += len(t) + 1
        rest = [j for j in range(space.n_features) if j not in thresholds]
        position = {j: start + i for i, j in enumerate(rest)}
        for group in space.categorical:
            drop.append(position[group.columns[0]])
        keep = np.asarray([k for k in range(E.shape[1]) if k not in set(drop)], dtype=np.intp)
        A = np.column_stack([E[:, keep], np.ones(E.shape[0])])
        rank = int(np.linalg.matrix_rank(A))
        if rank < A.shape[1]:
            raise AttackFailed(
                f"only {rank} of {A.shape[1]} independent equations: a bin was never asked; "
                "raise the budget so every boundary is found"
            )
        theta = solve_centred_logits(A, P)  # columns of A × classes, centred over classes
        W = np.zeros((c, E.shape[1]))
        W[:, keep] = theta[:-1].T
        b = theta[-1]
        if kind == "binary":
            W, b = (W[1] - W[0])[None, :], np.asarray([b[1] - b[0]])
        ctx.notes["equations"] = int(X.shape[0])
        return model.set_parameters(
            n_features=space.n_features,
            binned={j: np.asarray(t) for j, t in thresholds.items()},
            coef=W,
            intercept=b,
            classes=np.arange(c),
        )
