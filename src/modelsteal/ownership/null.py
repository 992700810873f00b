"""What an innocent suspect scores: a method's statistic on independent models, as a p-value.

A statistic alone proves nothing: models trained on the same distribution agree on much,
and a fingerprint that "matches" them accuses innocents (Szyller et al., TMLR 2023). Every
ownership method therefore turns its statistic into a p-value against the same statistic
measured on a zoo of **independent** models — different seeds, architectures, and training
rows disjoint from the owner's (the hard case) — that modelsteal builds (``zoo.py``).

Two p-values are reported:

* ``p_value`` — the statistic's tail under a normal law fitted to the zoo, through the
  Student-t prediction interval for one new draw (t with N−1 degrees of freedom, scale
  s·sqrt(1 + 1/N)). It can go below 1/(N+1), which a zoo of a few dozen models needs to
  reach α = 0.01, and it rests on the null being near normal; the leave-one-out
  false-accusation rate below checks that on the zoo itself.
  A method whose statistic is a share of ``n`` answers (CAE's match rate) fits the normal
  law on the logit scale, logit((share·n + ½)/(n + 1)): a share near 0 or 1 is skewed, and
  a normal fit on the raw share puts too little mass in the tail away from the bound, which
  accuses innocents (CAE on mnist5k: 5 of 100 independents at α = 0.01 raw, 0 on the
  logit scale; ``bench/ownership.py --zoo 100``).
* ``empirical_p`` — (1 + the independents at least as extreme) / (N + 1): assumption-free,
  but never below 1/(N+1); ``mode="empirical"`` verdicts need N ≥ 1/α − 1 independents.

``false_accusation_rate(alpha)`` plays each independent as a suspect against the others:
the share wrongly accused at α is what the owner should expect for an innocent copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from modelsteal.errors import InvalidInput

Tail = Literal["low", "high"]
Mode = Literal["t", "empirical"]
#: fewest independents a null may be fitted on
MIN_INDEPENDENTS = 5


def min_independents(alpha: float, mode: Mode) -> int:
    """How many independent models a verdict at ``alpha`` needs."""
    if mode == "empirical":
        return max(MIN_INDEPENDENTS, math.ceil(1.0 / alpha - 1.0 - 1e-9))
    return MIN_INDEPENDENTS


@dataclass(frozen=True)
class NullDistribution:
    """A method's statistic on ``names`` independent models; ``tail`` is where copies lie."""

    statistics: NDArray[np.float64]
    names: tuple[str, ...]
    tail: Tail
    #: each independent's labels on the evidence (for methods that test per part, as DAWN per key)
    labels: tuple[NDArray[np.int64], ...] | None = None
    #: the statistic is a share of this many answers: the t-fit is made on its logit scale
    logit_trials: int | None = None

    def __post_init__(self) -> None:
        if len(self.statistics) != len(self.names):
            raise InvalidInput("a null needs one statistic per independent model")
        if len(self.statistics) < MIN_INDEPENDENTS:
            raise InvalidInput(
                f"a null needs at least {MIN_INDEPENDENTS} independent models, not {len(self.statistics)}: "
                "build a bigger zoo (modelsteal zoo OWNER_DIR --size N)"
            )
        if not np.all(np.isfinite(self.statistics)):
            raise InvalidInput("an independent model's statistic is not finite")
        if self.logit_trials is not None:
            if self.logit_trials < 1:
                raise InvalidInput("a share's null needs the number of answers it is a share of (>= 1)")
            if np.any((self.statistics < 0) | (self.statistics > 1)):
                raise InvalidInput("a null on the logit scale needs statistics that are shares in [0, 1]")

    @property
    def size(self) -> int:
        return len(self.statistics)

    def _signed(self, value: float | NDArray[np.float64]) -> NDArray[np.float64]:
        """The statistic turned so that low means 'copy'."""
        arr = np.asarray(value, dtype=np.float64)
        return arr if self.tail == "low" else -arr

    def _fit_scale(self, value: float | NDArray[np.float64]) -> NDArray[np.float64]:
        """The scale the normal law is fitted on: the statistic, or a share's continuity-corrected logit."""
        arr = np.asarray(value, dtype=np.float64)
        if self.logit_trials is None:
            return arr
        n = self.logit_trials
        share = (np.clip(arr, 0.0, 1.0) * n + 0.5) / (n + 1)
        return np.asarray(np.log(share / (1.0 - share)))

    def p_value(self, statistic: float) -> float:
        """The Student-t prediction tail of ``statistic`` under the zoo's normal fit."""
        null = self._signed(self._fit_scale(self.statistics))
        n = null.size
        mean, sd = float(np.mean(null)), float(np.std(null, ddof=1))
        x = float(self._signed(self._fit_scale(statistic)))
        if sd <= 0.0:  # every independent scored the same: only an equal score is not evidence
            return 1.0 if x >= mean else 0.0
        z = (x - mean) / (sd * math.sqrt(1.0 + 1.0 / n))
        return float(stats.t.cdf(z, df=n - 1))

    def empirical_p(self, statistic: float) -> float:
        """(1 + independents at least as extreme) / (N + 1)."""
        null = self._signed(self.statistics)
        x = float(self._signed(statistic))
        return float((1 + np.sum(null <= x)) / (null.size + 1))

    def p(self, statistic: float, mode: Mode) -> float:
        return self.p_value(statistic) if mode == "t" else self.empirical_p(statistic)

    def without(self, i: int) -> NullDistribution:
        keep = [j for j in range(self.size) if j != i]
        labels = None if self.labels is None else tuple(self.labels[j] for j in keep)
        return NullDistribution(
            self.statistics[keep], tuple(self.names[j] for j in keep), self.tail, labels, self.logit_trials
        )

    def false_accusation_rate(self, alpha: float, mode: Mode = "t") -> float:
        """Share of independents a null of the others would accuse at ``alpha`` (leave one out)."""
        if self.size <= MIN_INDEPENDENTS:
            return float("nan")
        wrong = [self.without(i).p(float(self.statistics[i]), mode) < alpha for i in range(self.size)]
        return float(np.mean(wrong))

    def check_size(self, alpha: float, mode: Mode) -> None:
        need = min_independents(alpha, mode)
        if self.size < need:
            raise InvalidInput(
                f"an empirical p-value below {alpha:g} needs at least {need} independent models and the zoo "
                f"has {self.size}: build more (modelsteal zoo OWNER_DIR --size {need}) or use --null t"
            )
