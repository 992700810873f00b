"""The stolen decision tree: boxes found by path finding, assembled into a tree.

Path finding returns leaves as boxes: per continuous feature an interval whose ends are
known to within ε (a bracket: a point inside the leaf and one outside), per categorical
feature a set of levels. :meth:`StolenTree.from_leaves` rebuilds a binary tree whose
leaves predict what the API answered in each box. Where boxes overlap (plain
probabilities cannot always tell two leaves apart), the smaller box wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Unit:
    """A feature as the tree sees it: a continuous column or a one-hot group."""

    name: str
    columns: tuple[int, ...]
    lower: float = 0.0
    upper: float = 0.0
    n_levels: int = 0

    @property
    def categorical(self) -> bool:
        return self.n_levels > 0

    @property
    def width(self) -> float:
        return self.upper - self.lower


def units_of(space: FeatureSpace) -> list[Unit]:
    """One unit per continuous column and per one-hot group, in column order."""
    group_at = {g.columns[0]: g for g in space.categorical}
    in_group = {c for g in space.categorical for c in g.columns}
    units: list[Unit] = []
    for col in range(space.n_features):
        if col in group_at:
            g = group_at[col]
            units.append(Unit(g.name, tuple(g.columns), n_levels=len(g.columns)))
        elif col not in in_group:
            units.append(Unit(space.names[col], (col,), float(space.lower[col]), float(space.upper[col])))
    return units


def unit_values(X: FloatArray, units: list[Unit]) -> FloatArray:
    """Rows as unit values: a continuous value, or a categorical level index (NaN if missing)."""
    out = np.empty((X.shape[0], len(units)))
    for i, u in enumerate(units):
        if u.categorical:
            block = X[:, list(u.columns)]
            level = np.argmax(np.nan_to_num(block, nan=-1.0), axis=1).astype(np.float64)
            level[np.isnan(block).all(axis=1)] = np.nan
            out[:, i] = level
        else:
            out[:, i] = X[:, u.columns[0]]
    return out


@dataclass
class Box:
    """A hyper-rectangle: brackets on continuous units, level sets on categorical ones.

    ``low[u] = (inside, outside)`` with ``outside < inside``: the lower edge lies between;
    ``high[u] = (inside, outside)`` with ``inside < outside``. A unit absent from a dict is
    unbounded on that side (categorical: all levels allowed).
    """

    low: dict[int, tuple[float, float]] = field(default_factory=dict)
    high: dict[int, tuple[float, float]] = field(default_factory=dict)
    levels: dict[int, frozenset[int]] = field(default_factory=dict)

    def copy(self) -> Box:
        return Box(dict(self.low), dict(self.high), dict(self.levels))

    def cut_low(self, u: int) -> float:
        """The box holds values ``> cut_low`` on unit ``u`` (-inf when unbounded)."""
        b = self.low.get(u)
        return -np.inf if b is None else _cut(b)

    def cut_high(self, u: int) -> float:
        """The box holds values ``<= cut_high`` on unit ``u`` (inf when unbounded)."""
        b = self.high.get(u)
        return np.inf if b is None else _cut(b)

    def inside_low(self, u: int, unit: Unit) -> float:
        """The lowest value known to be inside the box on unit ``u``."""
        b = self.low.get(u)
        return unit.lower if b is None else b[0]

    def inside_high(self, u: int, unit: Unit) -> float:
        b = self.high.get(u)
        return unit.upper if b is None else b[0]

    def allowed(self, u: int, unit: Unit) -> frozenset[int]:
        return self.levels.get(u, frozenset(range(unit.n_levels)))

    def contains(self, values: FloatArray) -> bool:
        """Whether one row of unit values lies in the box (a missing value lies in no box)."""
        for u in self.low:
            v = values[u]
            if not v > self.cut_low(u):
                return False
        for u in self.high:
            v = values[u]
            if not v <= self.cut_high(u):
                return False
        for u, allowed in self.levels.items():
            v = values[u]
            if v != v or int(v) not in allowed:
                return False
        return True

    def contains_rows(self, V: FloatArray) -> NDArray[np.bool_]:
        """Per row of unit values: inside the box."""
        inside = np.ones(V.shape[0], dtype=bool)
        for u in self.low:
            inside &= V[:, u] > self.cut_low(u)
        for u in self.high:
            inside &= V[:, u] <= self.cut_high(u)
        for u, allowed in self.levels.items():
            inside &= np.isin(V[:, u], np.asarray(sorted(allowed), dtype=np.float64))
        return inside

    def volume(self, units: list[Unit]) -> float:
        """Share of the feature space the box covers."""
        vol = 1.0
        for i, unit in enumerate(units):
            if unit.categorical:
                vol *= len(self.allowed(i, unit)) / unit.n_levels
            elif unit.width > 0:
                lo = max(self.cut_low(i), unit.lower)
                hi = min(self.cut_high(i), unit.upper)
                vol *= max(hi - lo, 0.0) / unit.width
        return vol

    def describe(self, units: list[Unit], level_names: dict[int, tuple[str, ...]]) -> str:
        parts = []
        for i, unit in enumerate(units):
            if unit.categorical and i in self.levels:
                names = level_names.get(i, tuple(str(k) for k in range(unit.n_levels)))
                parts.append(f"{unit.name} in {{{', '.join(names[k] for k in sorted(self.levels[i]))}}}")
            elif not unit.categorical and (i in self.low or i in self.high):
                lo, hi = self.cut_low(i), self.cut_high(i)
                if i in self.low and i in self.high:
                    parts.append(f"{lo:.6g} < {unit.name} <= {hi:.6g}")
                elif i in self.low:
                    parts.append(f"{unit.name} > {lo:.6g}")
                else:
                    parts.append(f"{unit.name} <= {hi:.6g}")
        return " and ".join(parts) if parts else "always"


@dataclass(frozen=True)
class Leaf:
    """An extracted leaf: its box and what the API answers there."""

    box: Box
    proba: FloatArray
    answer: Any = None


class StolenTree:
    """A decision tree rebuilt from path finding's leaves; a scikit-learn-style classifier.

    Build it with :meth:`from_leaves`. Continuous tests are ``value <= threshold``;
    categorical tests send a set of levels left.
    """

    def __init__(self, feature_space: FeatureSpace, classes: NDArray[Any]) -> None:
        self.feature_space = feature_space
        self.classes_ = np.asarray(classes)
        self.units_ = units_of(feature_space)
        self.leaves_: list[Leaf] = []

    # ------------------------------------------------------------------ building
    @classmethod
    def from_leaves(
        cls, feature_space: FeatureSpace, classes: NDArray[Any], leaves: list[Leaf]
    ) -> StolenTree:
        model = cls(feature_space, classes)
        model._build(leaves)
        return model

    def _build(self, leaves: list[Leaf]) -> None:
        n_classes = self.classes_.size
        self.leaves_ = list(leaves)
        if leaves:
            # Uncovered space (a partial extraction) gets the answer covering most volume.
            default = max(leaves, key=lambda leaf: leaf.box.volume(self.units_)).proba
        else:
            default = np.full(n_classes, 1.0 / n_classes)
        self._unit = [-1]
        self._threshold = [0.0]
        self._left_levels: list[frozenset[int]] = [frozenset()]
        self._left = [-1]
        self._right = [-1]
        self._value = [default]
        self._box_lists: dict[int, list[int]] = {}
        volumes = [leaf.box.volume(self.units_) for leaf in leaves]
        stack: list[tuple[int, Box, list[int]]] = [(0, Box(), list(range(len(leaves))))]
        while stack:
            node, region, members = stack.pop()
            members = [m for m in members if self._overlaps(leaves[m].box, region)]
            if not members:
                continue
            covering = [m for m in members if self._covers(leaves[m].box, region)]
            answers = {tuple(np.round(leaves[m].proba, 12)) for m in members}
            if len(answers) == 1 or len(covering) == len(members):
                best = min(covering or members, key=lambda m: volumes[m])
                self._value[node] = leaves[best].proba
                continue
            split = self._choose_split(leaves, members, region)
            if split is None:
                # Overlapping boxes (equal answers made some too large): no cut separates
                # them, so rows reaching here take the smallest box holding them.
                order = sorted(members, key=lambda m: volumes[m])
                self._box_lists[node] = order
                self._value[node] = leaves[order[0]].proba
                continue
            u, threshold, left_levels = split
            left_region, right_region = region.copy(), region.copy()
            unit = self.units_[u]
            if unit.categorical:
                allowed = region.allowed(u, unit)
                left_region.levels[u] = frozenset(left_levels)
                right_region.levels[u] = frozenset(allowed - left_levels)
            else:
                above = float(np.nextafter(threshold, np.inf))
                left_region.high[u] = (threshold, above)
                right_region.low[u] = (above, threshold)
            left, right = self._new_node(default), self._new_node(default)
            self._unit[node], self._threshold[node] = u, threshold
            self._left_levels[node] = frozenset(left_levels)
            self._left[node], self._right[node] = left, right
            stack.append((left, left_region, members))
            stack.append((right, right_region, members))
        self._finalise()

    def _new_node(self, default: FloatArray) -> int:
        self._unit.append(-1)
        self._threshold.append(0.0)
        self._left_levels.append(frozenset())
        self._left.append(-1)
        self._right.append(-1)
        self._value.append(default)
        return len(self._unit) - 1

    def _overlaps(self, box: Box, region: Box) -> bool:
        for i, unit in enumerate(self.units_):
            if unit.categorical:
                if not box.allowed(i, unit) & region.allowed(i, unit):
                    return False
            elif max(box.cut_low(i), region.cut_low(i)) >= min(box.cut_high(i), region.cut_high(i)):
                return False
        return True

    def _covers(self, box: Box, region: Box) -> bool:
        for i, unit in enumerate(self.units_):
            if unit.categorical:
                if not region.allowed(i, unit) <= box.allowed(i, unit):
                    return False
            elif box.cut_low(i) > region.cut_low(i) or box.cut_high(i) < region.cut_high(i):
                return False
        return True

    def _choose_split(
        self, leaves: list[Leaf], members: list[int], region: Box
    ) -> tuple[int, float, frozenset[int]] | None:
        """A cut through no box (the extracted partition is a tree's, so one exists unless
        boxes overlap), the most balanced one; None if every cut goes through a box."""
        best: tuple[tuple[int, int], int, float, frozenset[int]] | None = None
        n = len(members)
        for i, unit in enumerate(self.units_):
            if unit.categorical:
                allowed = region.allowed(i, unit)
                sets = [leaves[m].box.allowed(i, unit) & allowed for m in members]
                components = _level_components(allowed, sets)
                if len(components) > 1:
                    left = components[0]
                    n_left = sum(1 for s in sets if s <= left)
                    score = (0, abs(2 * n_left - n))
                    if best is None or score < best[0]:
                        best = (score, i, 0.0, frozenset(left))
                continue
            lo, hi = region.cut_low(i), region.cut_high(i)
            cuts = set()
            for m in members:
                for t in (leaves[m].box.cut_low(i), leaves[m].box.cut_high(i)):
                    if lo < t < hi:
                        cuts.add(t)
            for t in cuts:
                crossing = n_left = 0
                for m in members:
                    b = leaves[m].box
                    if b.cut_low(i) < t < b.cut_high(i):
                        crossing += 1
                    elif b.cut_high(i) <= t:
                        n_left += 1
                score = (crossing, abs(2 * n_left + crossing - n))
                if best is None or score < best[0]:
                    best = (score, i, float(t), frozenset())
        if best is None or best[0][0] > 0:
            return None
        return best[1], best[2], best[3]

    def _finalise(self) -> None:
        self.unit_ = np.asarray(self._unit, dtype=np.int64)
        self.threshold_ = np.asarray(self._threshold, dtype=np.float64)
        self.left_ = np.asarray(self._left, dtype=np.int64)
        self.right_ = np.asarray(self._right, dtype=np.int64)
        self.value_ = np.asarray(self._value, dtype=np.float64)
        width = max((u.n_levels for u in self.units_), default=0)
        self.left_levels_ = np.zeros((len(self._unit), max(width, 1)), dtype=bool)
        for node, levels in enumerate(self._left_levels):
            for level in levels:
                self.left_levels_[node, level] = True
        self.n_leaves_ = int(np.sum(self.left_ < 0))
        self.n_nodes_ = int(self.left_.size)
        self.is_categorical_ = np.asarray([u.categorical for u in self.units_], dtype=bool)

    # ------------------------------------------------------------------ predicting
    def apply(self, X: FloatArray) -> NDArray[np.int64]:
        """The leaf each row reaches."""
        if not hasattr(self, "left_"):
            raise InvalidInput("this StolenTree has not been built; use StolenTree.from_leaves")
        X = self.feature_space.validate(X)
        V = unit_values(X, self.units_)
        node = np.zeros(X.shape[0], dtype=np.int64)
        active = np.arange(X.shape[0])
        while active.size:
            cur = node[active]
            internal = self.left_[cur] >= 0
            active, cur = active[internal], cur[internal]
            if not active.size:
                break
            u = self.unit_[cur]
            values = V[active, u]
            go_left = np.where(
                self.is_categorical_[u],
                self.left_levels_[cur, np.where(self.is_categorical_[u], values, 0).astype(np.int64)],
                values <= self.threshold_[cur],
            )
            node[active] = np.where(go_left, self.left_[cur], self.right_[cur])
        return node

    def predict_proba(self, X: FloatArray) -> FloatArray:
        nodes = self.apply(X)
        P = np.array(self.value_[nodes])
        if self._box_lists:
            V = unit_values(self.feature_space.validate(X), self.units_)
            for node, order in self._box_lists.items():
                rows = np.flatnonzero(nodes == node)
                for m in order:
                    if not rows.size:
                        break
                    hit = self.leaves_[m].box.contains_rows(V[rows])
                    P[rows[hit]] = self.leaves_[m].proba
                    rows = rows[~hit]
        return np.asarray(P)

    def predict(self, X: FloatArray) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])

    def export_text(self, level_names: dict[int, tuple[str, ...]] | None = None) -> str:
        """One line per extracted leaf: its conditions and its answer."""
        names = level_names or {}
        lines = []
        for leaf in self.leaves_:
            label = self.classes_[int(np.argmax(leaf.proba))]
            lines.append(f"{leaf.box.describe(self.units_, names)} -> {label}")
        return "\n".join(lines)


def _cut(bracket: tuple[float, float]) -> float:
    """Where a bracketed edge is placed: just below its upper end.

    The edge ``t`` lies in ``[lower end, upper end)`` with the usual ``value <= t`` test
    going left, and trees put ``t`` halfway between training values, often on a value
    the data takes (4.0 between 3 and 5). Placing the cut just below the upper end keeps
    every value from ``t`` down on the correct side; only values in ``(t, upper end)``, at
    most ε wide, can be misplaced.
    """
    return float(np.nextafter(max(bracket), -np.inf))


def _level_components(allowed: frozenset[int], sets: list[frozenset[int]]) -> list[set[int]]:
    """Connected components of ``allowed`` levels, linking levels that share a box."""
    parent = {level: level for level in allowed}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for s in sets:
        items = sorted(s)
        for other in items[1:]:
            parent[find(other)] = find(items[0])
    groups: dict[int, set[int]] = {}
    for level in allowed:
        groups.setdefault(find(level), set()).add(level)
    return sorted(groups.values(), key=min)
