"""Verify a suspect by the answers a DAWN watermark made wrong on purpose (``defenses/api_watermark.py``).

The owner asks the suspect the inputs its API once answered with a wrong label; a copy
trained on those answers repeats them far more often than a model that never saw them.
The test is an exact one-sided binomial per API key: k of the n watermarks that key
received, against the match rate of the independent models (pooled, with one match and
one miss added so it is never 0). The key with the smallest p-value is named, and the
verdict's p-value is that one times the number of keys (Bonferroni: the owner looked at
every key), so the many keys of honest users do not dilute the evidence against one thief.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from scipy import stats

from modelsteal.defenses.api_watermark import WatermarkStore
from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers
from modelsteal.ownership.base import Evidence, Owner, OwnershipMethod
from modelsteal.ownership.null import Mode, NullDistribution
from modelsteal.random import RandomState, check_random_state


def binomial_p(k: int, n: int, p0: float) -> float:
    """P(at least ``k`` matches in ``n``) when each matches with probability ``p0``."""
    return float(stats.binom.sf(k - 1, n, p0)) if n > 0 else 1.0


class DawnVerification(OwnershipMethod):
    """DAWN verification (Szyller et al. 2021): the suspect's labels on the watermarked inputs.

    Parameters
    ----------
    store:
        The watermark records the gateway's ``dawn`` transform wrote.
    n_samples:
        Most records to ask about (a seeded sample when there are more); None: all.
    """

    name: ClassVar[str] = "dawn"
    tail: ClassVar[Literal["high"]] = "high"
    needs: ClassVar[Literal["labels"]] = "labels"

    def __init__(self, *, store: str | Path, n_samples: int | None = None) -> None:
        if n_samples is not None and (not isinstance(n_samples, int) or n_samples < 1):
            raise InvalidInput("n_samples must be a whole number >= 1")
        self.store = str(store)
        self.n_samples = n_samples

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        X, labels, keys = WatermarkStore(self.store).load()
        if labels.size == 0:
            raise InvalidInput(f"the watermark store {self.store} holds no watermarked answers yet")
        if X.shape[1] != owner.feature_space.n_features:
            raise InvalidInput(
                f"the watermark store {self.store} holds rows of {X.shape[1]} features and the owner's model "
                f"takes {owner.feature_space.n_features}: pass the store of this model's API"
            )
        if self.n_samples is not None and labels.size > self.n_samples:
            pick = np.sort(
                check_random_state(random_state).choice(labels.size, self.n_samples, replace=False)
            )
            X, labels, keys = X[pick], labels[pick], [keys[i] for i in pick]
        return Evidence(self.name, X, {"labels": labels, "keys": np.array(keys)})

    def score(self, evidence: Evidence, answers: Answers) -> float:
        return float(np.mean(answers.labels == evidence.data["labels"]))

    @staticmethod
    def _chance(null: NullDistribution, n: int, leave_out: int | None = None) -> float:
        rates = [r for i, r in enumerate(null.statistics) if i != leave_out]
        matches = float(np.sum(np.round(np.asarray(rates) * n)))
        return (matches + 1.0) / (len(rates) * n + 2.0)

    def _by_key(self, evidence: Evidence, labels: np.ndarray, p0: float) -> dict[str, dict[str, Any]]:
        hit = labels == evidence.data["labels"]
        keys = evidence.data["keys"]
        out = {}
        for key, count in Counter(keys.tolist()).items():
            k = int(hit[keys == key].sum())
            out[str(key)] = {"watermarks": count, "matches": k, "p_value": binomial_p(k, count, p0)}
        return out

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        n = evidence.queries
        p0 = self._chance(null, n)
        by_key = self._by_key(evidence, answers.labels, p0)
        named = min(by_key, key=lambda key: by_key[key]["p_value"])
        matches = int(np.sum(answers.labels == evidence.data["labels"]))
        details = {
            "matches": matches,
            "watermarks": n,
            "chance": p0,
            "pooled_p_value": binomial_p(matches, n, p0),
            "by_key": by_key,
            "key": named,
        }
        return min(1.0, len(by_key) * by_key[named]["p_value"]), details

    def false_accusation_rate(
        self, evidence: Evidence, null: NullDistribution, alpha: float, mode: Mode
    ) -> float:
        """Share of independents accused at ``alpha``, each judged per key like a suspect
        against the chance rate of the others."""
        return float(np.mean([p < alpha for p in self.left_out_p_values(evidence, null)]))

    def left_out_p_values(self, evidence: Evidence, null: NullDistribution) -> list[float]:
        """Each independent's verdict p-value, the chance rate measured on the others."""
        if null.labels is None:
            raise InvalidInput("this null keeps no labels; build it with null_distribution()")
        n = evidence.queries
        out = []
        for i, labels in enumerate(null.labels):
            by_key = self._by_key(evidence, labels, self._chance(null, n, leave_out=i))
            out.append(min(1.0, len(by_key) * min(v["p_value"] for v in by_key.values())))
        return out


class TriggerWatermark(OwnershipMethod):
    """A trigger-set watermark embedded at training (Adi et al. 2018; ``margin``: after Kim et
    al. 2023), verified by the suspect's labels on the triggers: an exact one-sided binomial
    test of its matches against the independents' pooled match rate.

    The triggers (uniform inputs with random labels, ``train --watermark``) live in the owner's
    model directory and are never served. ``n_samples`` caps the triggers asked (a seeded
    sample of them).
    """

    name: ClassVar[str] = "watermark"
    tail: ClassVar[Literal["high"]] = "high"
    needs: ClassVar[Literal["labels"]] = "labels"

    def __init__(self, *, n_samples: int | None = None) -> None:
        if n_samples is not None and (not isinstance(n_samples, int) or n_samples < 1):
            raise InvalidInput("n_samples must be a whole number >= 1")
        self.n_samples = n_samples

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        if owner.watermark is None:
            raise InvalidInput(
                "the owner's model directory holds no watermark: train it with --watermark trigger|margin"
            )
        X, labels = owner.watermark
        if self.n_samples is not None and labels.size > self.n_samples:
            pick = np.sort(
                check_random_state(random_state).choice(labels.size, self.n_samples, replace=False)
            )
            X, labels = X[pick], labels[pick]
        return Evidence(self.name, X, {"labels": labels})

    def score(self, evidence: Evidence, answers: Answers) -> float:
        return float(np.mean(answers.labels == evidence.data["labels"]))

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        n = evidence.queries
        p0 = DawnVerification._chance(null, n)
        k = int(np.sum(answers.labels == evidence.data["labels"]))
        return binomial_p(k, n, p0), {"matches": k, "triggers": n, "chance": p0}

    def false_accusation_rate(
        self, evidence: Evidence, null: NullDistribution, alpha: float, mode: Mode
    ) -> float:
        n = evidence.queries
        wrong = [
            binomial_p(round(float(rate) * n), n, DawnVerification._chance(null, n, leave_out=i)) < alpha
            for i, rate in enumerate(null.statistics)
        ]
        return float(np.mean(wrong))
