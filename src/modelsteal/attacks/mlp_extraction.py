"""Equation-solving attacks on one-hidden-layer perceptrons.

Smooth activations (tanh, logistic) — Tramèr et al., "Stealing Machine Learning Models
via Prediction APIs", USENIX Security 2016, §4.1.3: the answers are a system of
non-linear equations in the k = h(d+1) + c(h+1) unknowns, solved by minimising a loss.
**Departures**: we fit the centred log-probabilities (the logits up to the shift softmax
ignores) by squared error with L-BFGS in float64, instead of the paper's cross-entropy
fit; inputs are mapped onto [-1, 1] from the published feature space first. A copy with
exactly h hidden units stalls in spurious minima (on digits, mean squared error 3e-3 and
98.6% uniform fidelity, whatever the restarts); a copy with 1.5·h units escapes them and
fits to ~1e-8, so the stolen model is functionally, not parametrically, equivalent. The
paper used 1-5 k queries; each answer carries c-1 equations, and 6·k/(c-1) suffice.

ReLU — after Jagielski et al., "High Accuracy and High Fidelity Extraction of Neural
Networks" (USENIX Security 2020) and Carlini, Jagielski, Mironov, "Cryptanalytic
Extraction of Neural Network Models" (CRYPTO 2020). A ReLU network's logits are
piecewise linear; along a line they kink exactly where a hidden unit's pre-activation
crosses zero. We (1) find the kinks on random lines through the box by bisection plus
intersecting the linear pieces on either side, (2) give each kink not on a hyperplane
already known a hidden unit, whose weight row is the rank-one change of the Jacobian
across the kink (Jacobians measured by finite differences once per linear region on
the line, shared by neighbouring kinks), and (3) solve the output layer by least
squares on every answer collected. **Departures**: a unit's orientation (which side is
active) is not recovered; the stolen model carries a linear skip term instead, exact
because relu(z) = z + relu(-z). Units never active, or always active, inside the box are
indistinguishable from linear terms there and are folded into the skip term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from numpy.typing import NDArray

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.errors import AttackFailed, InvalidInput
from modelsteal.oracle.info import ModelInfo
from modelsteal.stolen.mlp import ACTIVATIONS, StolenMLP

TINY = 1e-300


def mlp_unknowns(d: int, h: int, c: int) -> int:
    """Parameters of a one-hidden-layer network (a binary one has a single output unit)."""
    outputs = 1 if c == 2 else c
    return h * (d + 1) + outputs * (h + 1)


@dataclass(frozen=True)
class BoxMap:
    """Affine map between the raw feature space and the cube [-1, 1]^d."""

    lower: NDArray[np.float64]
    span: NDArray[np.float64]

    @classmethod
    def of(cls, info: ModelInfo) -> BoxMap:
        fs = info.feature_space
        span = np.where(fs.upper > fs.lower, fs.upper - fs.lower, 1.0)
        return cls(fs.lower, span)

    def to_raw(self, U: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self.lower + (U + 1.0) * 0.5 * self.span)

    def to_cube(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(2.0 * (X - self.lower) / self.span - 1.0)

    def weights_to_raw(
        self, W: NDArray[np.float64], b: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """W·u + b with u = 2(x - lower)/span - 1, rewritten as W'·x + b'."""
        a = 2.0 / self.span
        m = -2.0 * self.lower / self.span - 1.0
        return W * a[None, :], b + W @ m


def centred_log_proba(P: NDArray[np.float64], what: str) -> NDArray[np.float64]:
    if np.any(P <= TINY):
        raise AttackFailed(
            f"{what}: an answer holds a probability of 0 (underflow), whose logarithm carries no equation"
        )
    L = np.log(P)
    return np.asarray(L - L.mean(axis=1, keepdims=True))


class MLPEquationSolving(ExtractionAttack):
    """Steal a one-hidden-layer MLP from probability answers; the activation picks the method.

    Hyperparameters (keyword-only): ``hidden`` and ``activation`` when the API does not
    publish them; for smooth activations ``query_factor`` (queries = factor·k/(c-1)),
    ``width_factor`` (the copy has that many times the victim's hidden units),
    ``restarts``, ``max_iter`` (L-BFGS iterations per start) and ``fit_tol`` (mean squared
    error on centred logits that ends the restarts); for ReLU ``patience`` (lines without a new unit before
    stopping when the unit count is unknown) and ``tol``.
    """

    name = "eq-mlp"
    reads = "probabilities"
    targets = ("mlp",)

    def __init__(
        self,
        *,
        hidden: int | None = None,
        activation: str | None = None,
        query_factor: float = 6.0,
        width_factor: float = 1.5,
        restarts: int = 3,
        max_iter: int = 1000,
        fit_tol: float = 1e-6,
        patience: int = 3,
        tol: float = 1e-7,
    ) -> None:
        if activation is not None and activation not in ACTIVATIONS:
            raise InvalidInput(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
        if hidden is not None and hidden < 1:
            raise InvalidInput("hidden must be >= 1")
        if query_factor <= 0:
            raise InvalidInput("query_factor must be > 0")
        self.hidden = hidden
        self.activation = activation
        self.query_factor = query_factor
        self.width_factor = width_factor
        self.restarts = restarts
        self.fit_tol = fit_tol
        self.max_iter = max_iter
        self.patience = patience
        self.tol = tol

    # -------------------------------------------------------------- what is published
    def _architecture(self, info: ModelInfo) -> tuple[int | None, str]:
        sizes = info.details.get("hidden_layer_sizes")
        hidden = self.hidden
        if hidden is None and sizes:
            if len(sizes) != 1:
                raise InvalidInput(f"eq-mlp steals one hidden layer; this model has {len(sizes)}")
            hidden = int(sizes[0])
        activation = self.activation or info.details.get("activation")
        if activation is None:
            raise InvalidInput(
                "the API does not publish the activation; pass activation='relu' or 'tanh' (--activation)"
            )
        if activation not in ACTIVATIONS:
            raise InvalidInput(f"eq-mlp cannot steal activation {activation!r}")
        return hidden, str(activation)

    def _smooth_queries(self, info: ModelInfo, hidden: int) -> int:
        c = info.n_classes
        return math.ceil(self.query_factor * mlp_unknowns(info.n_features, hidden, c) / max(c - 1, 1))

    def min_queries(self, info: ModelInfo) -> int:
        hidden, activation = self._architecture(info)
        d, c = info.n_features, info.n_classes
        if activation == "relu":
            return 2 * (d + 1)  # one kink's two Jacobians, at the very least
        if hidden is None:
            raise InvalidInput("the API does not publish the hidden layer size; pass hidden=H (--hidden)")
        return math.ceil(mlp_unknowns(d, hidden, c) / max(c - 1, 1))

    def _extract(self, ctx: AttackContext) -> StolenMLP:
        hidden, activation = self._architecture(ctx.info)
        ctx.notes["activation"] = activation
        if activation == "relu":
            return ReluCriticalPoints(ctx, hidden, patience=self.patience, tol=self.tol).run()
        if hidden is None:
            raise InvalidInput("the API does not publish the hidden layer size; pass hidden=H (--hidden)")
        ctx.notes["unknowns"] = mlp_unknowns(ctx.info.n_features, hidden, ctx.info.n_classes)
        return self._fit_smooth(ctx, hidden, activation)

    # -------------------------------------------------------------- smooth activations
    def _fit_smooth(self, ctx: AttackContext, hidden: int, activation: str) -> StolenMLP:
        info = ctx.info
        box = BoxMap.of(info)
        n = min(self._smooth_queries(info, hidden), ctx.budget_left)
        X = info.feature_space.sample_uniform(n, ctx.rng)
        G = centred_log_proba(ctx.oracle.query(X).require_probabilities(self.name), self.name)
        U = torch.as_tensor(box.to_cube(X))
        target = torch.as_tensor(G)
        d, c = U.shape[1], G.shape[1]
        width = max(hidden, math.ceil(self.width_factor * hidden))
        act = {"tanh": torch.tanh, "logistic": torch.sigmoid}[activation]
        gen = torch.Generator().manual_seed(int(ctx.rng.integers(0, 2**31 - 1)))
        best: tuple[float, list[torch.Tensor]] | None = None
        for attempt in range(max(1, self.restarts)):
            params = [
                (torch.randn(width, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).requires_grad_(),
                torch.zeros(width, dtype=torch.float64).requires_grad_(),
                (
                    torch.randn(c, width, generator=gen, dtype=torch.float64) / math.sqrt(width)
                ).requires_grad_(),
            ]
            optim = torch.optim.LBFGS(
                params,
                lr=1.0,
                max_iter=self.max_iter,
                max_eval=2 * self.max_iter,
                tolerance_grad=1e-16,
                tolerance_change=1e-30,
                history_size=100,
                line_search_fn="strong_wolfe",
            )

            def closure(p: list[torch.Tensor] = params, o: torch.optim.LBFGS = optim) -> torch.Tensor:
                o.zero_grad()
                z = act(U @ p[0].T + p[1]) @ p[2].T
                z = z - z.mean(dim=1, keepdim=True)
                loss = ((z - target) ** 2).mean()
                loss.backward()
                return loss

            optim.step(closure)
            loss = float(closure().detach())
            if best is None or loss < best[0]:
                best = (loss, [p.detach().clone() for p in params])
            ctx.notes["restarts_used"] = attempt + 1
            if loss < self.fit_tol:
                break
        if best is None:  # pragma: no cover - the loop runs at least once
            raise AttackFailed("no fit was attempted")
        ctx.notes["fit_mse"] = best[0]
        ctx.notes["student_width"] = width
        W1, b1, W2 = (t.numpy() for t in best[1])
        W1r, b1r = box.weights_to_raw(W1, b1)
        return StolenMLP(hidden=width, activation=activation).set_parameters(
            W1r, b1r, W2, np.zeros(c), np.arange(c)
        )


# ---------------------------------------------------------------------------- ReLU
@dataclass
class _Kink:
    t: float
    slope_jump: NDArray[np.float64]


@dataclass
class ReluCriticalPoints:
    """One run of the critical-point attack; holds the answers it has collected."""

    ctx: AttackContext
    hidden: int | None
    patience: int = 3
    tol: float = 1e-7
    box: BoxMap = field(init=False)
    U_seen: list[NDArray[np.float64]] = field(default_factory=list)
    G_seen: list[NDArray[np.float64]] = field(default_factory=list)
    normals: list[NDArray[np.float64]] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.box = BoxMap.of(self.ctx.info)
        fs = self.ctx.info.feature_space
        if fs.categorical:
            raise InvalidInput(
                "the ReLU attack walks lines through a continuous box, and this model has one-hot features "
                f"({', '.join(g.name for g in fs.categorical[:3])}); steal it with --attack retrain-adaptive "
                "(labels), or a learning attack with your rows (--attack knockoff --pool-csv FILE)"
            )
        self.d = fs.n_features
        self.eta = 1e-6  # step for one-sided slopes along a line, in cube units

    # -------------------------------------------------------------- oracle access
    def g(self, U: NDArray[np.float64]) -> NDArray[np.float64]:
        """Centred logits at cube points ``U`` (one query per row)."""
        U = np.atleast_2d(U)
        P = self.ctx.oracle.query(self.box.to_raw(U)).require_probabilities("eq-mlp")
        G = centred_log_proba(P, "eq-mlp")
        self.U_seen.append(U)
        self.G_seen.append(G)
        return G

    # -------------------------------------------------------------- driver
    def run(self) -> StolenMLP:
        ctx = self.ctx
        quiet_lines = 0
        lines = 0
        while True:
            if self.hidden is not None and len(self.normals) >= self.hidden:
                break
            if quiet_lines >= self.patience:
                break
            # a line costs at least its four end-point answers and a Jacobian
            if ctx.budget_left < 4 + 2 * (self.d + 1):
                break
            before = len(self.normals)
            try:
                self._search_line()
            except _OutOfBudget:
                break
            lines += 1
            quiet_lines = 0 if len(self.normals) > before else quiet_lines + 1
        ctx.notes["lines"] = lines
        ctx.notes["units_found"] = len(self.normals)
        if not self.normals and not self.U_seen:
            raise AttackFailed("the budget ran out before a single line was searched")
        return self._fit_output_layer()

    def _line(self) -> tuple[NDArray[np.float64], NDArray[np.float64], float, float]:
        """The line through two random points of the cube, and its parameter range inside it.

        (A random direction from one point gives a short chord in high dimension that
        crosses few hyperplanes; the line through two points spans the cube.)"""
        rng = self.ctx.rng
        p0 = rng.uniform(-1.0, 1.0, self.d)
        v = rng.uniform(-1.0, 1.0, self.d) - p0
        v /= np.linalg.norm(v)
        with np.errstate(divide="ignore"):
            lo = np.where(v > 0, (-1.0 - p0) / v, (1.0 - p0) / v)
            hi = np.where(v > 0, (1.0 - p0) / v, (-1.0 - p0) / v)
        t0, t1 = float(np.max(lo[v != 0])), float(np.min(hi[v != 0]))
        shrink = 1e-9 * (t1 - t0)
        return p0, v, t0 + shrink, t1 - shrink

    def _need(self, n: int) -> None:
        if self.ctx.budget_left < n:
            raise _OutOfBudget

    def _search_line(self) -> None:
        p0, v, t0, t1 = self._line()
        eta = self.eta

        def at(ts: list[float]) -> NDArray[np.float64]:
            self._need(len(ts))
            return self.g(p0[None, :] + np.asarray(ts)[:, None] * v[None, :])

        ends = at([t0, t0 + eta, t1 - eta, t1])
        ga, sa = ends[0], (ends[1] - ends[0]) / eta
        gb, sb = ends[3], (ends[3] - ends[2]) / eta
        kinks: list[_Kink] = []
        stack = [(t0, t1, ga, sa, gb, sb, 0)]
        while stack:
            a, b, ga, sa, gb, sb, depth = stack.pop()
            scale = 1.0 + max(np.abs(ga).max(), np.abs(gb).max())
            tol = self.tol * scale
            jump = sb - sa
            linear_ok = np.abs(gb - ga - sa * (b - a)).max() <= tol
            if np.abs(jump).max() <= tol and linear_ok:
                continue
            if b - a < 1e-9 or depth > 60:
                continue  # too narrow to resolve; other lines will find these units
            split = 0.5 * (a + b)
            if np.abs(jump).max() > tol:
                t_star = float(np.dot((ga - sa * a) - (gb - sb * b), jump) / np.dot(jump, jump))
                if a + 2 * eta < t_star < b - 2 * eta:
                    g_star = at([t_star])[0]
                    left = ga + sa * (t_star - a)
                    right = gb + sb * (t_star - b)
                    if max(np.abs(g_star - left).max(), np.abs(g_star - right).max()) <= tol:
                        kinks.append(_Kink(t_star, jump))
                        continue
                    split = t_star
            gm = at([split, split + eta])
            sm = (gm[1] - gm[0]) / eta
            stack.append((a, split, ga, sa, gm[0], sm, depth + 1))
            stack.append((split, b, gm[0], sm, gb, sb, depth + 1))
        kinks.sort(key=lambda k: k.t)
        self._learn_units(p0, v, t0, t1, kinks)

    def _known(self, u: NDArray[np.float64]) -> bool:
        return any(abs(float(w @ u) + b) < 1e-6 for w, b in zip(self.normals, self.offsets, strict=True))

    def _learn_units(
        self,
        p0: NDArray[np.float64],
        v: NDArray[np.float64],
        t0: float,
        t1: float,
        kinks: list[_Kink],
    ) -> None:
        if not kinks:
            return
        ts = [t0, *[k.t for k in kinks], t1]
        new = [i for i, k in enumerate(kinks) if not self._known(p0 + k.t * v)]
        if not new:
            return
        # regions r_0..r_m between consecutive kinks; kink i separates r_i and r_{i+1}
        regions = sorted({r for i in new for r in (i, i + 1)})
        jac: dict[int, NDArray[np.float64]] = {}
        for r in regions:
            if self.hidden is not None and len(self.normals) >= self.hidden:
                return
            mid = 0.5 * (ts[r] + ts[r + 1])
            half = 0.5 * (ts[r + 1] - ts[r])
            jac[r] = self._jacobian(p0 + mid * v, min(1e-4, 0.01 * half))
            for i in new:
                if i + 1 == r and i in jac and not self._known(p0 + kinks[i].t * v):
                    self._add_unit(jac[i + 1] - jac[i], p0 + kinks[i].t * v)

    def _jacobian(self, u: NDArray[np.float64], delta: float) -> NDArray[np.float64]:
        """c×d Jacobian of the centred logits at ``u`` by forward differences (d+1 queries)."""
        self._need(self.d + 1)
        steps = np.where(u + delta <= 1.0, delta, -delta)
        pts = np.vstack([u, u[None, :] + np.diag(steps)])
        G = self.g(pts)
        return np.asarray((G[1:] - G[0]).T / steps[None, :])

    def _add_unit(self, D: NDArray[np.float64], u_star: NDArray[np.float64]) -> None:
        _, s, Vt = np.linalg.svd(D, full_matrices=False)
        if s[0] <= 0 or (s.size > 1 and s[1] > 1e-3 * s[0]):
            return  # not a single unit's rank-one jump (a crossing was missed): skip it
        w = Vt[0]
        self.normals.append(w)
        self.offsets.append(-float(w @ u_star))

    def _fit_output_layer(self) -> StolenMLP:
        U = np.vstack(self.U_seen)
        G = np.vstack(self.G_seen)
        h = len(self.normals)
        W = np.vstack(self.normals) if h else np.zeros((0, self.d))
        b = np.asarray(self.offsets)
        F = np.hstack([np.maximum(U @ W.T + b, 0.0), U, np.ones((U.shape[0], 1))])
        theta, *_ = np.linalg.lstsq(F, G, rcond=None)
        resid = float(np.abs(F @ theta - G).max())
        self.ctx.notes["output_fit_max_residual"] = resid
        W2 = theta[:h].T
        S = theta[h : h + self.d].T
        b2 = theta[-1]
        W1r, b1r = self.box.weights_to_raw(W, b)
        Sr, b2r = self.box.weights_to_raw(S, b2)
        return StolenMLP(hidden=h, activation="relu").set_parameters(
            W1r, b1r, W2, b2r, np.arange(G.shape[1]), skip=Sr
        )


class _OutOfBudget(Exception):
    """Internal: the next step of the ReLU search does not fit in the budget."""
