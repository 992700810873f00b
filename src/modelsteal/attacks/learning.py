"""Learning-based extraction: train a copy on the API's answers to the attacker's queries.

Every attack here is a query strategy over the attacker's data (a :class:`ThiefPool`, or
uniform noise when it has none) plus the shared loop of :class:`LearningAttack`:

    while budget is left:  pick rows  ->  query them  ->  train the copy  ->  checkpoint

A round ends at each checkpoint (so the fidelity-versus-queries history has a point
there) and wherever the strategy wants a retrained copy before it picks again. The copy is
a :class:`~modelsteal.stolen.net.StolenNet`, retrained from scratch after each round on
every answer so far: probability vectors when the API gives them (top-k answers become
vectors with the unseen mass spread evenly), one-hot labels otherwise. Every row sent
counts against the budget, synthetic and augmented rows included; training-time
augmentation of rows already answered sends nothing.

When a strategy needs more rows than the pool holds, it sends shifted (images) or
jittered (tabular) copies of pool rows; the result's notes say how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.cluster import KMeans
from torch.nn import functional as nnf

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.datasets.thief import ThiefPool
from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers
from modelsteal.random import derive_seed
from modelsteal.stolen.net import StolenNet
from modelsteal.torch_training import ImageAugmenter, soft_cross_entropy

FloatArray = NDArray[np.float64]


def answer_targets(answers: Answers, n_classes: int, *, hard: bool = False) -> FloatArray:
    """Training targets from answers: probabilities, top-k filled evenly, or one-hot labels."""
    n = len(answers)
    if not hard and answers.probabilities is not None:
        return np.asarray(answers.probabilities, dtype=np.float64)
    if not hard and answers.top_k_classes is not None and answers.top_k_probabilities is not None:
        out = np.zeros((n, n_classes))
        np.put_along_axis(out, answers.top_k_classes, answers.top_k_probabilities, axis=1)
        rest = np.clip(1.0 - out.sum(axis=1), 0.0, 1.0)
        unseen = n_classes - answers.top_k_classes.shape[1]
        if unseen > 0:
            mask = out == 0
            out += mask * (rest / unseen)[:, None]
        return out
    return np.eye(n_classes)[answers.labels]


@dataclass
class TheftState:
    """What a learning attack has so far."""

    pool: FloatArray
    pool_labels: NDArray[np.int64] | None
    unused: NDArray[np.bool_]
    X: list[FloatArray] = field(default_factory=list)
    T: list[FloatArray] = field(default_factory=list)
    model: StolenNet | None = None
    rounds: int = 0
    synthetic: int = 0
    #: what one strategy keeps during a run (Knockoff's bandit): on the state, never the attack
    strategy: Any = None

    @property
    def queried(self) -> int:
        return sum(x.shape[0] for x in self.X)

    def all_rows(self) -> tuple[FloatArray, FloatArray]:
        return np.vstack(self.X), np.vstack(self.T)


class LearningAttack(ExtractionAttack):
    """The shared loop of learning-based attacks.

    Parameters (keyword-only, shared by every learning attack)
    ----------
    pool:
        The attacker's rows (a :class:`ThiefPool` or an array); ``None`` draws uniform noise
        from the published feature space (20,000 rows).
    student:
        An unfitted :class:`StolenNet` whose settings the copies take; the space and the
        classes come from the API.
    checkpoints:
        Query counts at which a round ends and the history records fidelity.
    labels_only:
        Train on the top-1 labels even when the API gives probabilities.
    """

    takes_pool = True

    def __init__(
        self,
        *,
        pool: ThiefPool | FloatArray | None = None,
        student: StolenNet | None = None,
        checkpoints: Sequence[int] | None = None,
        labels_only: bool = False,
    ) -> None:
        self.pool = pool
        self.student = student
        self.checkpoints = checkpoints
        self.labels_only = labels_only

    # ------------------------------------------------------------------ strategy hooks
    def _round_size(self, ctx: AttackContext, state: TheftState) -> int:
        """Rows the strategy wants before the copy is retrained (default: all that is left)."""
        return ctx.budget_left

    def _select(self, ctx: AttackContext, state: TheftState, n: int) -> FloatArray:
        """The next ``n`` rows to query (default: random unused pool rows)."""
        return self.fresh_rows(ctx, state, n)

    def _gather(self, ctx: AttackContext, state: TheftState, n: int) -> None:
        """Query ``n`` rows and record them (default: ``_select`` then one query)."""
        X = self._select(ctx, state, n)
        self.record(ctx, state, X, ctx.oracle.query(X))

    def _unlabeled(self, state: TheftState) -> FloatArray | None:
        """Rows the copy may learn from without answers (semi-supervised attacks)."""
        return None

    # ------------------------------------------------------------------ helpers
    def uses_hard_labels(self, ctx: AttackContext) -> bool:
        return self.reads == "labels" or self.labels_only

    def record(self, ctx: AttackContext, state: TheftState, X: FloatArray, answers: Answers) -> FloatArray:
        T = answer_targets(answers, ctx.info.n_classes, hard=self.uses_hard_labels(ctx))
        state.X.append(np.asarray(X, dtype=np.float64))
        state.T.append(T)
        return T

    def fresh_rows(self, ctx: AttackContext, state: TheftState, n: int) -> FloatArray:
        """``n`` random unused pool rows; perturbed copies of pool rows once it runs dry."""
        idx = np.flatnonzero(state.unused)
        take = ctx.rng.permutation(idx)[:n]
        state.unused[take] = False
        rows = state.pool[take]
        missing = n - take.size
        if missing > 0:
            rows = np.vstack([rows, self.perturbed_copies(ctx, state.pool, missing)])
            state.synthetic += missing
        return rows

    def perturbed_copies(self, ctx: AttackContext, source: FloatArray, n: int) -> FloatArray:
        space = ctx.info.feature_space
        base = source[ctx.rng.integers(0, source.shape[0], n)]
        shape = space.image_shape
        if shape is not None and len(shape) == 2:
            aug = ImageAugmenter(
                (int(shape[0]), int(shape[1])),
                torch.tensor(space.lower, dtype=torch.float32),
                torch.tensor(space.upper, dtype=torch.float32),
                shift=2 if min(shape) >= 16 else 1,
                noise=0.0,
            )
            gen = torch.Generator().manual_seed(derive_seed(ctx.rng))
            return aug(torch.as_tensor(base, dtype=torch.float32), gen).double().numpy()
        jitter = ctx.rng.normal(0.0, 0.02, base.shape) * (space.upper - space.lower)
        return space.clip(base + jitter)

    def train_copy(self, ctx: AttackContext, state: TheftState) -> StolenNet:
        template = self.student if self.student is not None else StolenNet()
        model = clone(template).set_params(
            feature_space=ctx.info.feature_space,
            classes=np.arange(ctx.info.n_classes),
            random_state=derive_seed(ctx.rng),
        )
        X, T = state.all_rows()
        return model.fit(X, T, X_unlabeled=self._unlabeled(state))

    def _pool_arrays(self, ctx: AttackContext) -> tuple[FloatArray, NDArray[np.int64] | None]:
        space = ctx.info.feature_space
        if self.pool is None:
            return space.sample_uniform(20_000, ctx.rng), None
        if isinstance(self.pool, ThiefPool):
            X, y = self.pool.X, self.pool.y
        else:
            X, y = np.asarray(self.pool, dtype=np.float64), None
        X = space.validate(X, what="the thief's pool")
        if X.shape[0] == 0:
            raise InvalidInput("the thief's pool is empty")
        return X, y

    def _ends(self, budget: int) -> list[int]:
        marks = sorted({int(c) for c in (self.checkpoints or ()) if 0 < int(c) < budget})
        return [*marks, budget]

    # ------------------------------------------------------------------ the loop
    def _extract(self, ctx: AttackContext) -> StolenNet:
        X, y = self._pool_arrays(ctx)
        state = TheftState(X, y, np.ones(X.shape[0], dtype=bool))
        budget = ctx.budget_left
        self._start(ctx, state)
        for end in self._ends(budget):
            while state.queried < end:
                n = min(end - state.queried, max(1, self._round_size(ctx, state)))
                self._gather(ctx, state, n)
                if state.queried < end:
                    state.model = self.train_copy(ctx, state)
                    state.rounds += 1
            state.model = self.train_copy(ctx, state)
            state.rounds += 1
            ctx.checkpoint(state.model)
        ctx.notes["rounds"] = state.rounds
        ctx.notes["synthetic_rows"] = state.synthetic
        ctx.notes["targets"] = "labels" if self.uses_hard_labels(ctx) or not _soft(ctx) else "probabilities"
        if state.model is None:
            raise InvalidInput("the budget allowed no round")
        return state.model

    def _start(self, ctx: AttackContext, state: TheftState) -> None:
        """Set up before the first round (clusters, seed sets)."""


def _soft(ctx: AttackContext) -> bool:
    return ctx.info.output_mode.kind in ("probabilities", "top_k")


# ---------------------------------------------------------------------- Knockoff Nets
class KnockoffNets(LearningAttack):
    """Knockoff Nets (Orekondy, Schiele and Fritz, CVPR 2019).

    ``policy="random"`` queries pool rows uniformly at random. ``policy="adaptive"`` is
    the paper's gradient-bandit policy (Sec. 4.1.2), written from the paper since the
    official code never released it: actions are groups of pool rows, the policy is a
    softmax over action preferences, and after each step the preferences move by
    ``alpha * (r - mean r)`` toward the actions that paid. The reward sums the paper's
    three terms for each answer y: certainty (top-1 minus top-2 probability), diversity
    (how far y exceeds the mean of the last ``window`` answers, class by class) and the
    copy's loss on y; the copy is updated online after each step.

    Departures: the paper's actions are the attacker's own class labels (ImageNet's
    hierarchy); we use the pool's labels when ``actions="labels"`` and the pool carries
    them, else ``n_actions`` k-means clusters of the pool, which needs no labels. Each
    reward term is standardised by its running mean and deviation before summing, so no
    term dominates by scale. The final copy is retrained from scratch on every answer.
    """

    name = "knockoff"
    strategies = ("random", "adaptive")
    strategy_param = "policy"

    def __init__(
        self,
        *,
        policy: str = "random",
        actions: str = "clusters",
        n_actions: int = 20,
        step_size: int = 16,
        alpha: float = 0.05,
        window: int = 64,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if policy not in self.strategies:
            raise InvalidInput("knockoff policy must be 'random' or 'adaptive'")
        if actions not in ("clusters", "labels"):
            raise InvalidInput("knockoff actions must be 'clusters' or 'labels'")
        if n_actions < 2 or step_size < 1 or alpha <= 0 or window < 1:
            raise InvalidInput("need n_actions >= 2, step_size >= 1, alpha > 0, window >= 1")
        self.policy = policy
        self.actions = actions
        self.n_actions = n_actions
        self.step_size = step_size
        self.alpha = alpha
        self.window = window

    def _start(self, ctx: AttackContext, state: TheftState) -> None:
        if self.policy != "adaptive":
            return
        if self.actions == "labels":
            if state.pool_labels is None:
                raise InvalidInput("actions='labels' needs a pool with labels; use actions='clusters'")
            _, groups = np.unique(state.pool_labels, return_inverse=True)
        else:
            k = min(self.n_actions, state.pool.shape[0])
            km = KMeans(n_clusters=k, n_init=1, random_state=derive_seed(ctx.rng))
            groups = km.fit_predict(state.pool)
        online = StolenNet(hidden=64).build(ctx.info.feature_space, ctx.info.n_classes)
        groups = np.asarray(groups, dtype=np.int64)
        state.strategy = _Bandit(
            groups=groups,
            prefs=np.zeros(int(groups.max()) + 1),
            online=online,
            optim=torch.optim.Adam(online.parameters(), lr=1e-3),
        )
        ctx.notes["actions"] = int(state.strategy.prefs.size)

    def _gather(self, ctx: AttackContext, state: TheftState, n: int) -> None:
        if self.policy == "random":
            super()._gather(ctx, state, n)
            return
        bandit: _Bandit = state.strategy
        left = n
        while left > 0:
            size = min(self.step_size, left)
            X, picked = self._bandit_rows(ctx, state, bandit, size)
            T = self.record(ctx, state, X, ctx.oracle.query(X))
            self._learn(ctx, state, bandit, X, T, picked)
            left -= size
        ctx.notes["policy_entropy"] = round(float(_entropy(_softmax(bandit.prefs))), 4)

    def _bandit_rows(
        self, ctx: AttackContext, state: TheftState, bandit: _Bandit, size: int
    ) -> tuple[FloatArray, NDArray[np.int64]]:
        rows: list[FloatArray] = []
        picked: list[int] = []
        for _ in range(size):
            open_actions = np.unique(bandit.groups[state.unused])
            if open_actions.size == 0:
                rows.append(self.perturbed_copies(ctx, state.pool, 1)[0])
                state.synthetic += 1
                picked.append(-1)
                continue
            pi = _softmax(bandit.prefs[open_actions])
            a = int(open_actions[ctx.rng.choice(open_actions.size, p=pi)])
            members = np.flatnonzero(state.unused & (bandit.groups == a))
            i = int(ctx.rng.choice(members))
            state.unused[i] = False
            rows.append(state.pool[i])
            picked.append(a)
        return np.vstack(rows), np.asarray(picked, dtype=np.int64)

    def _learn(
        self,
        ctx: AttackContext,
        state: TheftState,
        bandit: _Bandit,
        X: FloatArray,
        T: FloatArray,
        picked: NDArray[np.int64],
    ) -> None:
        rewards = self._rewards(state, bandit, X, T)
        for a, r in zip(picked.tolist(), rewards.tolist(), strict=True):
            if a < 0:
                continue
            bandit.steps += 1
            bandit.baseline += (r - bandit.baseline) / bandit.steps
            pi = _softmax(bandit.prefs)
            step = self.alpha * (r - bandit.baseline)
            bandit.prefs -= step * pi
            bandit.prefs[a] += step
        # online update of the copy: a few steps on this batch and a replay of earlier ones
        allX, allT = state.all_rows()
        bandit.online.train()
        for _ in range(2):
            replay = ctx.rng.integers(0, allX.shape[0], 48)
            xb = torch.as_tensor(np.vstack([X, allX[replay]]), dtype=torch.float32)
            tb = torch.as_tensor(np.vstack([T, allT[replay]]), dtype=torch.float32)
            bandit.optim.zero_grad()
            soft_cross_entropy(bandit.online(xb), tb).backward()
            bandit.optim.step()
        bandit.online.eval()

    def _rewards(self, state: TheftState, bandit: _Bandit, X: FloatArray, T: FloatArray) -> FloatArray:
        """The paper's three terms per answer (certainty, diversity, the copy's loss), each
        standardised by its running mean and deviation, summed."""
        xt = torch.as_tensor(X, dtype=torch.float32)
        tt = torch.as_tensor(T, dtype=torch.float32)
        with torch.no_grad():
            logp = nnf.log_softmax(bandit.online(xt), dim=1)
            loss = -(tt * logp).sum(dim=1).numpy().astype(np.float64)
        top2 = np.sort(T, axis=1)[:, -2:]
        certainty = top2[:, 1] - top2[:, 0]
        recent = (
            np.vstack(state.T)[-self.window - X.shape[0] : -X.shape[0]] if state.queried > X.shape[0] else T
        )
        diversity = np.maximum(T - recent.mean(axis=0), 0.0).sum(axis=1)
        terms = np.vstack([certainty, diversity, loss])
        rewards = np.zeros(X.shape[0])
        for j in range(3):
            for value in terms[j]:
                bandit.update_stats(j, float(value))
            count, mean, m2 = bandit.reward_stats[j]
            std = np.sqrt(m2 / count) if count > 1 else 1.0
            rewards += (terms[j] - mean) / (std if std > 1e-9 else 1.0)
        return rewards


@dataclass
class _Bandit:
    """Knockoff's gradient bandit during one run: action groups, preferences, reward
    statistics and the online copy that scores the loss term."""

    groups: NDArray[np.int64]
    prefs: FloatArray
    online: torch.nn.Module
    optim: torch.optim.Optimizer
    reward_stats: FloatArray = field(default_factory=lambda: np.zeros((3, 3)))  # per term: count, mean, M2
    baseline: float = 0.0
    steps: int = 0

    def update_stats(self, j: int, value: float) -> None:
        count, mean, m2 = self.reward_stats[j]
        count += 1
        delta = value - mean
        mean += delta / count
        m2 += delta * (value - mean)
        self.reward_stats[j] = (count, mean, m2)


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


def _entropy(p: FloatArray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# ---------------------------------------------------------------------- Copycat
class Copycat(LearningAttack):
    """Copycat CNN (Correia-Silva et al., IJCNN 2018): label random data with the API's top-1.

    The paper queries a large set of natural images from outside the problem domain and
    trains on the hard labels only. We query random rows of the given pool (natural-image
    patches, resized images or in-distribution rows) and always train on labels, even when
    the API gives probabilities. The paper fine-tunes a pretrained VGG; we train the copy's
    network from scratch, with the same shift augmentation as every learning attack.
    """

    name = "copycat"
    reads = "labels"


# ---------------------------------------------------------------------- Jacobian augmentation
class JacobianAugmentation(LearningAttack):
    """Jacobian-based dataset augmentation (Papernot et al., AsiaCCS 2017).

    Start from a seed of ``seed_size`` pool rows; each round trains the copy, then adds
    ``x + lambda_r * sign(dF_y(x)/dx)`` for the rows so far, where ``y`` is the API's label
    of ``x`` and ``F_y`` the copy's score for it: each synthetic row steps along the copy's
    gradient, probing where the victim's decision changes. As in the paper's Sec. 6, the step
    alternates in sign every ``tau`` rounds (periodic step size) and, after ``sigma``
    rounds, reservoir sampling keeps only ``kappa`` new rows per round.

    Departures: ``lambda_`` is a share of each feature's range (the paper's 0.1 on [0, 1]
    pixels); the last round is cut to what the budget leaves, drawing from the reservoir;
    probability answers are used as soft targets when the API gives them.
    """

    name = "jacobian"

    def __init__(
        self,
        *,
        seed_size: int = 100,
        lambda_: float = 0.1,
        tau: int = 3,
        sigma: int = 3,
        kappa: int = 400,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if seed_size < 1 or lambda_ <= 0 or tau < 1 or sigma < 0 or kappa < 1:
            raise InvalidInput("need seed_size >= 1, lambda_ > 0, tau >= 1, sigma >= 0, kappa >= 1")
        self.seed_size = seed_size
        self.lambda_ = lambda_
        self.tau = tau
        self.sigma = sigma
        self.kappa = kappa

    def _round_size(self, ctx: AttackContext, state: TheftState) -> int:
        if state.queried == 0:
            return self.seed_size
        r = state.rounds
        return state.queried if r <= self.sigma else self.kappa

    def _select(self, ctx: AttackContext, state: TheftState, n: int) -> FloatArray:
        if state.queried == 0 or state.model is None:
            return self.fresh_rows(ctx, state, n)
        X, T = state.all_rows()
        pick = ctx.rng.permutation(X.shape[0])[:n]  # reservoir: a uniform sample of the rows so far
        if pick.size < n:
            pick = np.concatenate([pick, ctx.rng.integers(0, X.shape[0], n - pick.size)])
        space = ctx.info.feature_space
        sign = -1.0 if (state.rounds // self.tau) % 2 else 1.0
        grad = _score_gradient_sign(state.model, X[pick], T[pick].argmax(axis=1))
        step = sign * self.lambda_ * (space.upper - space.lower)
        return space.clip(X[pick] + step * grad)


def _score_gradient_sign(model: StolenNet, X: FloatArray, labels: NDArray[np.int64]) -> FloatArray:
    x = torch.as_tensor(X, dtype=torch.float32).requires_grad_(True)
    out = model.module_(x)
    out[torch.arange(x.shape[0]), torch.as_tensor(labels)].sum().backward()
    grad = x.grad
    if grad is None:
        return np.zeros_like(X)
    return np.sign(grad.double().numpy())


# ---------------------------------------------------------------------- active learning
class ActiveLearning(LearningAttack):
    """Active learning after ActiveThief (Pal et al., AAAI 2020).

    A random ``initial`` share of the budget is queried first; then each round the copy
    picks the next rows from the unqueried pool and is retrained, the round doubling the
    rows queried so far (ActiveThief uses fixed increments; doubling needs fewer
    retrainings). Strategies:

    - ``uncertainty``: the rows whose predicted distribution has the highest entropy;
    - ``kcenter``: greedy k-center in the copy's probability space, taking each time the row
      farthest from every row queried or picked (Sener and Savarese 2018);
    - ``mix``: k-center among the ``mix_factor * n`` most uncertain rows.
    """

    name = "active"
    strategies = ("uncertainty", "kcenter", "mix")

    def __init__(
        self,
        *,
        strategy: str = "mix",
        initial: float = 0.125,
        mix_factor: int = 4,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        if strategy not in self.strategies:
            raise InvalidInput(
                f"active: strategy must be one of {', '.join(self.strategies)}, not {strategy!r}"
            )
        if not 0.0 < initial <= 1.0 or mix_factor < 1:
            raise InvalidInput("need 0 < initial <= 1 and mix_factor >= 1")
        self.strategy = strategy
        self.initial = initial
        self.mix_factor = mix_factor

    def _round_size(self, ctx: AttackContext, state: TheftState) -> int:
        if state.queried == 0:
            return max(1, round(self.initial * ctx.budget_left))
        return state.queried

    def _select(self, ctx: AttackContext, state: TheftState, n: int) -> FloatArray:
        idx = np.flatnonzero(state.unused)
        if state.model is None or idx.size <= n:
            return self.fresh_rows(ctx, state, n)
        proba = state.model.predict_proba(state.pool[idx])
        if self.strategy == "uncertainty":
            chosen = idx[np.argsort(-_row_entropy(proba), kind="stable")[:n]]
        else:
            cand = np.arange(idx.size)
            if self.strategy == "mix":
                cand = np.argsort(-_row_entropy(proba), kind="stable")[: min(idx.size, self.mix_factor * n)]
            X_done, _ = state.all_rows()
            centres = state.model.predict_proba(X_done)
            chosen = idx[cand[_k_center(proba[cand], centres, n)]]
        state.unused[chosen] = False
        return state.pool[chosen]


def _row_entropy(p: FloatArray) -> FloatArray:
    return np.asarray(-(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=1))


def _k_center(points: FloatArray, centres: FloatArray, n: int) -> NDArray[np.intp]:
    """Greedy k-center: ``n`` indices of ``points``, each farthest from the centres so far."""
    sq = (points**2).sum(axis=1)
    nearest = np.full(points.shape[0], np.inf)
    for start in range(0, centres.shape[0], 2048):
        c = centres[start : start + 2048]
        d = sq[:, None] - 2 * points @ c.T + (c**2).sum(axis=1)[None, :]
        nearest = np.minimum(nearest, d.min(axis=1))
    chosen: list[int] = []
    for _ in range(min(n, points.shape[0])):
        i = int(np.argmax(nearest))
        chosen.append(i)
        d = ((points - points[i]) ** 2).sum(axis=1)
        nearest = np.minimum(nearest, d)
        nearest[i] = -np.inf
    return np.asarray(chosen, dtype=np.intp)


# ---------------------------------------------------------------------- semi-supervised
class SemiSupervised(LearningAttack):
    """Semi-supervised extraction after Jagielski et al. (USENIX Security 2020).

    Query random pool rows; train the copy on their answers and, without asking, on the
    rest of the pool: FixMatch-style pseudo-labels (the copy's own prediction on a clean
    row, kept when its confidence reaches ``threshold``) as the target of a shifted and
    noised copy of the row, which also enforces consistency under augmentation.

    Departure: Jagielski et al. use MixMatch on large image sets; FixMatch's one
    confidence-masked term is simpler and does as well on our small pools.
    """

    name = "semi-supervised"

    def __init__(self, *, max_unlabeled: int = 5000, **common: Any) -> None:
        super().__init__(**common)
        if max_unlabeled < 1:
            raise InvalidInput("max_unlabeled must be >= 1")
        self.max_unlabeled = max_unlabeled

    def _unlabeled(self, state: TheftState) -> FloatArray | None:
        rows = state.pool[state.unused]
        return rows[: self.max_unlabeled] if rows.shape[0] else None
