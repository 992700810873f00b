"""Decision-tree path finding (Tramèr et al. 2016, "Stealing Machine Learning Models via
Prediction APIs", Section 4.2 and Algorithm 1).

A tree partitions the feature space into boxes, one per leaf. When the API's answer names
the leaf (BigML returns a confidence that is nearly unique per leaf), the box holding a
query is found feature by feature: a continuous feature's edges by binary search to ε,
a categorical feature's levels by querying each one. The queries just outside each edge
land in the neighbouring leaves, which are explored in turn until the space is covered.

Two variants:

``bottom-up`` (Algorithm 1) starts from a complete query and explores leaves. With
incomplete queries (a feature left out is answered by the deepest node before a test on
it) one query tells whether a feature lies on the leaf's path.

``top-down`` (the paper's variant for incomplete queries) starts from the empty query,
which the root answers, finds each node's split feature, then the children below it.

Where we depart from the paper, and why:

- Which features bound a leaf is found by adaptive group testing: moving a set of
  features to their bounds at once keeps the answer iff none of them bounds the leaf
  (a leaf is a box), so a leaf bounded by k of d features costs about k·log2(d/k)
  queries instead of d. The top-down variant finds a node's split feature among m
  missing ones in 1 + log2(m) queries the same way.
- Edges found once are reused: the thresholds a leaf shares with its siblings are tried
  before a fresh binary search, so each threshold is searched for about once.
- Equal answers are not taken for the same leaf: every explored box is kept, a query is
  skipped only when it falls inside one, and each box is built from its own queries.
  Where plain probabilities make neighbouring leaves answer alike (pure leaves all answer
  [1, 0, ...]), boxes can come out too large; the rebuilt tree then lets the smaller of
  two overlapping boxes win.
- ε is a fraction of each feature's range (the paper's ε is absolute), 1e-6 by default.
- An edge is placed just below the upper end of its bracket, assuming the ``value <= t``
  test of scikit-learn and most tree libraries: trees put thresholds halfway between
  training values, often on a value the data takes, which then stays on the right side.
- Classification trees only: our victims and APIs are classifiers; a regression tree's
  leaf value would serve as its identity the same way, but no regression API exists here.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from typing import Literal

import numpy as np

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.errors import BudgetExhausted, InvalidInput, RateLimited, UnsupportedOracle
from modelsteal.oracle.answers import Answers
from modelsteal.oracle.info import ModelInfo
from modelsteal.stolen.tree import Box, Leaf, StolenTree, Unit, unit_values, units_of

FloatArray = np.ndarray
Identity = Hashable


LABEL_ONLY_ADVICE = (
    "use lowd-meek (binary linear models) or retrain-uniform, retrain-linesearch or retrain-adaptive"
)


def answer_identity(answers: Answers, row: int) -> Identity:
    """What names the node that answered ``row``: everything the API showed about it."""
    if answers.confidences is not None:
        return (int(answers.labels[row]), round(float(answers.confidences[row]), 12))
    if answers.probabilities is not None:
        return tuple(np.round(answers.probabilities[row], 12).tolist())
    if answers.top_k_classes is not None and answers.top_k_probabilities is not None:
        return tuple(answers.top_k_classes[row].tolist()) + tuple(
            np.round(answers.top_k_probabilities[row], 12).tolist()
        )
    raise UnsupportedOracle(
        "path finding needs answers that tell leaves apart (probabilities or confidences); "
        f"this API gives labels only: {LABEL_ONLY_ADVICE}"
    )


def answer_proba(answers: Answers, row: int, n_classes: int) -> FloatArray:
    """A probability vector standing for the answer (one-hot where only a label is known)."""
    if answers.probabilities is not None:
        return np.asarray(answers.probabilities[row], dtype=np.float64)
    p = np.zeros(n_classes)
    if answers.top_k_classes is not None and answers.top_k_probabilities is not None:
        classes = answers.top_k_classes[row]
        probs = answers.top_k_probabilities[row]
        p[classes] = probs
        rest = [c for c in range(n_classes) if c not in set(classes.tolist())]
        if rest:
            p[rest] = max(1.0 - float(probs.sum()), 0.0) / len(rest)
        return p
    p[int(answers.labels[row])] = 1.0
    return p


def roundest_between(lo: float, hi: float) -> float | None:
    """The value strictly between ``lo`` and ``hi`` with the fewest significant digits."""
    if not hi > lo:
        return None
    top = max(abs(lo), abs(hi), 1e-300)
    exponent = int(np.floor(np.log10(top))) + 1
    for e in range(exponent, exponent - 17, -1):
        step = 10.0**e
        m = np.ceil(lo / step) * step
        if m <= lo:
            m += step
        if m < hi:
            return float(round(m, max(-e, 0)))
    return None


class _Explorer:
    """Queries one point at a time (each point once), keeps the thresholds found, and
    finds the box of the node answering a point."""

    def __init__(self, ctx: AttackContext, units: list[Unit], epsilon: float, verify: bool = True) -> None:
        self.ctx = ctx
        self.verify = verify
        self.units = units
        self.epsilon = epsilon
        self.n_classes = ctx.info.n_classes
        self.d = ctx.info.n_features
        self._seen: dict[bytes, Identity] = {}
        self.payload: dict[Identity, FloatArray] = {}
        self.brackets: dict[int, list[tuple[float, float]]] = {}
        self.leaves: list[Leaf] = []
        self.partial_leaves = 0

    # ------------------------------------------------------------------ points
    def with_values(self, x: FloatArray, changes: dict[int, float | None]) -> FloatArray:
        """``x`` with unit values changed: a number, a level index, or None (missing)."""
        y = x.copy()
        for u, value in changes.items():
            unit = self.units[u]
            cols = list(unit.columns)
            if value is None:
                y[cols] = np.nan
            elif unit.categorical:
                y[cols] = 0.0
                y[unit.columns[int(value)]] = 1.0
            else:
                y[cols[0]] = value
        return y

    def value(self, x: FloatArray, u: int) -> float | None:
        unit = self.units[u]
        block = x[list(unit.columns)]
        if np.isnan(block).any():
            return None
        return float(np.argmax(block)) if unit.categorical else float(block[0])

    def ident(self, x: FloatArray) -> Identity:
        key = x.tobytes()
        known = self._seen.get(key)
        if known is not None:
            return known
        answers = self.ctx.oracle.query(x.reshape(1, -1))
        identity = answer_identity(answers, 0)
        self._seen[key] = identity
        if identity not in self.payload:
            self.payload[identity] = answer_proba(answers, 0, self.n_classes)
        return identity

    # ------------------------------------------------------------------ group testing
    @staticmethod
    def group_test(items: Sequence[int], positive: Callable[[list[int]], bool]) -> list[int]:
        """The items for which ``positive`` holds, by adaptive binary splitting: ``positive(T)``
        is true iff ``T`` holds at least one of them."""
        found: list[int] = []
        stack: list[tuple[list[int], bool]] = [(list(items), False)]
        while stack:
            group, known_positive = stack.pop()
            if not group:
                continue
            if not known_positive and not positive(group):
                continue
            if len(group) == 1:
                found.append(group[0])
                continue
            half = len(group) // 2
            left, right = group[:half], group[half:]
            if positive(left):
                stack.append((right, False))
                stack.append((left, True))
            else:
                stack.append((right, True))
        return found

    # ------------------------------------------------------------------ edges
    def search_edge(self, x: FloatArray, u: int, a: Identity, outside: float) -> tuple[float, float]:
        """The edge of the box around ``x`` on unit ``u`` toward ``outside`` (a value known to
        answer otherwise): returns (inside, outside) at most ε·range apart."""
        start = self.value(x, u)
        if start is None:
            raise InvalidInput("cannot search an edge along a missing feature")
        inside: float = start
        unit = self.units[u]
        up = outside > inside
        tol = self.epsilon * unit.width
        end = outside

        def between(b: tuple[float, float]) -> bool:
            lo, hi = b
            return start <= lo and hi <= end if up else end <= lo and hi <= start

        candidates = sorted((b for b in self.brackets.get(u, []) if between(b)), reverse=not up)
        # Known thresholds first: find the first known bracket the edge lies in.
        while candidates:
            mid = len(candidates) // 2
            lo, hi = candidates[mid]
            near, far = (lo, hi) if up else (hi, lo)
            if self.ident(self.with_values(x, {u: far})) == a:
                inside = far
                candidates = candidates[mid + 1 :]
                continue
            outside = far
            if self.ident(self.with_values(x, {u: near})) == a:
                return near, far
            outside = near
            candidates = candidates[:mid]
        while abs(outside - inside) > tol:
            m = (inside + outside) / 2.0
            if self.ident(self.with_values(x, {u: m})) == a:
                inside = m
            else:
                outside = m
        # Data sit on round values, and a threshold halfway between two of them often is
        # one (4.0 between 3 and 5); which side it falls on can hang on the victim's own
        # rounding. One query at the roundest value in the bracket settles it.
        r = roundest_between(min(inside, outside), max(inside, outside))
        if r is not None:
            if self.ident(self.with_values(x, {u: r})) == a:
                inside = r
            else:
                outside = r
        self.brackets.setdefault(u, []).append((min(inside, outside), max(inside, outside)))
        return inside, outside

    # ------------------------------------------------------------------ boxes
    def node_box(
        self,
        x: FloatArray,
        a: Identity,
        region: Box,
        present: Sequence[int],
        relevance_by_missing: bool,
    ) -> tuple[Box, list[FloatArray]]:
        """The box (within ``region``) of the node answering ``x``, and points just outside it."""
        units = self.units
        box = region.copy()
        neighbours: list[FloatArray] = []
        continuous = [u for u in present if not units[u].categorical]
        categorical = [u for u in present if units[u].categorical and len(region.allowed(u, units[u])) > 1]

        def low_end(u: int) -> float:
            return region.inside_low(u, units[u])

        def high_end(u: int) -> float:
            return region.inside_high(u, units[u])

        if relevance_by_missing:
            on_path = set(
                self.group_test(
                    list(continuous) + categorical,
                    lambda T: self.ident(self.with_values(x, dict.fromkeys(T))) != a,
                )
            )
            continuous = [u for u in continuous if u in on_path]
            categorical = [u for u in categorical if u in on_path]
            lows = [u for u in continuous if self._moves(x, u, low_end(u), a)]
            highs = [u for u in continuous if self._moves(x, u, high_end(u), a)]
        else:
            can_low = [u for u in continuous if self.value(x, u) != low_end(u)]
            can_high = [u for u in continuous if self.value(x, u) != high_end(u)]
            lows = self.group_test(
                can_low, lambda T: self.ident(self.with_values(x, {u: low_end(u) for u in T})) != a
            )
            highs = self.group_test(
                can_high, lambda T: self.ident(self.with_values(x, {u: high_end(u) for u in T})) != a
            )
            categorical = self.group_test(categorical, lambda T: self._categories_move(x, T, region, a))
        for u in lows:
            inside, outside = self.search_edge(x, u, a, low_end(u))
            box.low[u] = (inside, outside)
            neighbours.append(self.with_values(x, {u: outside}))
        for u in highs:
            inside, outside = self.search_edge(x, u, a, high_end(u))
            box.high[u] = (inside, outside)
            neighbours.append(self.with_values(x, {u: outside}))
        for u in categorical:
            self._levels_of_node(x, u, a, region, box, neighbours)
        return box, neighbours

    def _levels_of_node(
        self, x: FloatArray, u: int, a: Identity, region: Box, box: Box, neighbours: list[FloatArray]
    ) -> None:
        """The levels of text unit ``u`` that keep ``x`` in node ``a`` go into ``box``; each
        other level's point joins ``neighbours``."""
        here = self.value(x, u)
        if here is None:
            return
        keep = {int(here)}
        for level in sorted(region.allowed(u, self.units[u]) - {int(here)}):
            y = self.with_values(x, {u: level})
            if self.ident(y) == a:
                keep.add(level)
            else:
                neighbours.append(y)
        box.levels[u] = frozenset(keep)

    def _moves(self, x: FloatArray, u: int, end: float, a: Identity) -> bool:
        if self.value(x, u) == end:
            return False
        return self.ident(self.with_values(x, {u: end})) != a

    def _categories_move(self, x: FloatArray, T: list[int], region: Box, a: Identity) -> bool:
        """Whether some unit in ``T`` has a level (allowed by ``region``) that changes the answer:
        probe k sets every unit to its k-th other level."""
        others = {}
        for u in T:
            here = self.value(x, u)
            others[u] = [
                lv for lv in sorted(region.allowed(u, self.units[u])) if here is None or lv != int(here)
            ]
        rounds = max((len(v) for v in others.values()), default=0)
        for k in range(rounds):
            changes: dict[int, float | None] = {u: float(v[k]) for u, v in others.items() if k < len(v)}
            if self.ident(self.with_values(x, changes)) != a:
                return True
        return False

    # ------------------------------------------------------------------ exploration
    def explore(
        self,
        start: FloatArray,
        region: Box,
        present: Sequence[int],
        relevance_by_missing: bool,
        on_found: Callable[[Box, Identity], None] | None = None,
    ) -> list[tuple[Box, Identity, FloatArray]]:
        """Every node answering some point of ``region`` (with ``present`` units set).

        A point inside an explored box is not explored again, but (with ``verify``) it is
        still asked once: if its answer differs from the box's, equal answers elsewhere
        made that box too large, and the point starts a box of its own.
        """
        found: list[tuple[Box, Identity, FloatArray]] = []
        queue: deque[FloatArray] = deque([start])
        while queue:
            x = queue.popleft()
            v = unit_values(x[None], self.units)[0]
            holders = [b_answer for box, b_answer, _ in found if box.contains(v)]
            if holders and (not self.verify or self.ident(x) in holders):
                continue
            a = self.ident(x)
            box, neighbours = self.node_box(x, a, region, present, relevance_by_missing)
            found.append((box, a, x))
            if on_found is not None:
                on_found(box, a)
            queue.extend(neighbours)
        return found

    def add_leaf(self, box: Box, a: Identity) -> None:
        self.leaves.append(Leaf(box, self.payload[a], a))

    def split_unit(self, x: FloatArray, a: Identity, region: Box, missing: list[int]) -> int | None:
        """The missing unit the node answering ``x`` tests, or None for a leaf."""

        def probe(T: list[int]) -> bool:
            return self.ident(self.with_values(x, {u: self.middle(u, region) for u in T})) != a

        if not missing or not probe(missing):
            return None
        group = list(missing)
        while len(group) > 1:
            half = group[: len(group) // 2]
            group = half if probe(half) else group[len(group) // 2 :]
        return group[0]

    def middle(self, u: int, region: Box) -> float:
        unit = self.units[u]
        if unit.categorical:
            return float(min(region.allowed(u, unit)))
        return (region.inside_low(u, unit) + region.inside_high(u, unit)) / 2.0


class PathFinding(ExtractionAttack):
    """Steal a decision tree by finding the path to every leaf (Tramèr et al. 2016, Alg. 1).

    Parameters (keyword-only)
    -------------------------
    variant:
        ``bottom-up`` (the paper's Algorithm 1) or ``top-down`` (needs incomplete queries).
    incomplete:
        Use incomplete queries (features left out); ``None`` uses them when the API
        accepts them. Required by ``top-down``.
    epsilon:
        Precision of each threshold, as a fraction of the feature's range (default 1e-6:
        at 1e-3 a query falls between an edge and its estimate often enough to cost
        0.5% uniform fidelity on a 100-leaf tree; 1e-6 costs about 10 more queries per
        threshold and gives 100%).
    verify:
        Ask once about each neighbouring point that falls inside an explored box, and
        explore it if the answer differs (costs about two queries per leaf; guards
        against leaves whose answers are equal).
    """

    name = "path-finding"
    reads = "confidences"
    targets = ("tree",)

    def __init__(
        self,
        *,
        variant: Literal["bottom-up", "top-down"] = "top-down",
        incomplete: bool | None = None,
        epsilon: float = 1e-6,
        verify: bool = True,
    ) -> None:
        if variant not in ("bottom-up", "top-down"):
            raise InvalidInput(f"path finding's variant is bottom-up or top-down, not {variant!r}")
        if not 0 < epsilon < 1:
            raise InvalidInput("epsilon is a fraction of each feature's range, between 0 and 1")
        self.variant = variant
        self.incomplete = incomplete
        self.epsilon = float(epsilon)
        self.verify = bool(verify)

    def _uses_incomplete(self, info: ModelInfo) -> bool:
        if self.incomplete is None:
            return info.accepts_missing
        return self.incomplete

    def check_oracle(self, info: ModelInfo) -> None:
        if info.output_mode.kind == "label":
            raise UnsupportedOracle(
                "path finding tells leaves apart by what the API returns beyond the label, and this "
                f"API answers with labels only; {LABEL_ONLY_ADVICE}"
            )
        uses = self._uses_incomplete(info)
        if uses and not info.accepts_missing:
            raise UnsupportedOracle(
                "incomplete queries were asked for, but this API does not answer queries with missing "
                "features; drop --incomplete or use a key whose policy allows them"
            )
        if self.variant == "top-down" and not uses:
            if self.incomplete is None:
                return  # falls back to bottom-up in _extract
            raise UnsupportedOracle("the top-down variant needs incomplete queries; use --variant bottom-up")

    def _extract(self, ctx: AttackContext) -> StolenTree:
        info = ctx.info
        space = info.feature_space
        units = units_of(space)
        explorer = _Explorer(ctx, units, self.epsilon, self.verify)
        incomplete = self._uses_incomplete(info)
        variant = self.variant if incomplete else "bottom-up"
        ctx.notes.update(variant=variant, incomplete=incomplete)
        everything = list(range(len(units)))
        try:
            if variant == "bottom-up":
                start = space.center()
                # Leaves are kept as they are found, so a budget running out keeps them.
                explorer.explore(start, Box(), everything, incomplete, on_found=explorer.add_leaf)
            else:
                self._top_down(explorer, space.n_features)
            ctx.notes["complete"] = True
        except (BudgetExhausted, RateLimited) as exc:
            ctx.notes["complete"] = False
            why = (
                "the budget ran out"
                if isinstance(exc, BudgetExhausted)
                else "the API's rate limit stopped us"
            )
            ctx.notes["warning"] = (
                f"{why} after {len(explorer.leaves) - explorer.partial_leaves} leaves; the stolen tree is partial"
            )
        ctx.notes["leaves"] = len(explorer.leaves) - explorer.partial_leaves
        if explorer.partial_leaves:
            ctx.notes["unexplored_nodes"] = explorer.partial_leaves
        ctx.notes["queries_per_leaf"] = round(ctx.oracle.queries / max(len(explorer.leaves), 1), 2)
        ctx.notes["distinct_answers"] = len(explorer.payload)
        found = len(explorer.leaves)
        distinct = len({leaf.answer for leaf in explorer.leaves})
        pure = sum(1 for leaf in explorer.leaves if float(np.max(leaf.proba)) >= 1.0 - 1e-12)
        if (
            "warning" not in ctx.notes
            and info.output_mode.kind == "probabilities"
            and (pure or distinct < found)
        ):
            ctx.notes["warning"] = (
                f"{found} leaves found, {distinct} distinct answers, {pure} pure: with plain probabilities every "
                "pure leaf answers [1, 0, ...], so leaves that answer alike can be taken for one and fidelity "
                "falls; an API that answers BigML-style confidences tells them apart (--output-mode confidence)"
            )
        classes = np.arange(info.n_classes)
        return StolenTree.from_leaves(space, classes, explorer.leaves)

    @staticmethod
    def _top_down(explorer: _Explorer, d: int) -> None:
        """Layer by layer from the root. If the budget runs out, each node whose subtree is
        unexplored becomes a leaf answering as that node does (BigML's own fallback)."""
        n_units = len(explorer.units)
        Item = tuple[FloatArray, Box, list[int], tuple[Box, Identity] | None]
        stack: list[Item] = [(np.full(d, np.nan), Box(), [], None)]
        current: Item | None = None
        try:
            while stack:
                current = stack.pop()
                start, region, present, _ = current
                for box, a, x in explorer.explore(start, region, present, False):
                    missing = [u for u in range(n_units) if u not in present]
                    u = explorer.split_unit(x, a, box, missing)
                    if u is None:
                        explorer.add_leaf(box, a)
                        continue
                    child = explorer.with_values(x, {u: explorer.middle(u, box)})
                    stack.append((child, box, sorted([*present, u]), (box, a)))
                current = None
        except (BudgetExhausted, RateLimited):
            for item in ([current] if current is not None else []) + stack:
                if item[3] is not None:
                    explorer.add_leaf(*item[3])
                    explorer.partial_leaves += 1
            raise
