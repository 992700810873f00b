"""Verify a suspect by labels its owner planted: DAWN's wrong answers, or a trigger set.

The owner asks the suspect inputs whose "watermark" label no innocent model has a reason to
give: the inputs its API once answered wrongly on purpose (DAWN), or the triggers it trained
into its model. A copy repeats those labels far more often than a model that never saw them.

The test is exact: the number of matches k among the n asked rows has a Poisson-binomial
law under the null, each row i matching with its own chance rate p_i, the share of the
independent models that give row i its watermark label (with one match and one miss added,
so no rate is 0). Per-row rates matter: independents agree with each other off their data
(most give a noise image the same class), so a pooled rate would make chance matches look
like evidence. For DAWN the test runs per API key; the key with the smallest p-value is
named, and the verdict's p-value is that one times the number of keys (Bonferroni), so the
many keys of honest users do not dilute the evidence against one thief.

The exact test takes the rows as independent. That holds for inputs drawn one by one
(DAWN's, the trigger set's uniform noise); it does not for EWE's triggers, which all carry
one patch: a model that reacts to the patch reacts on many of them at once (in our runs a
model trained on the owner's rows, never on a trigger, answered a third of them with the
watermark label). For such **shared-pattern** triggers the verdict's p-value is the larger
of the exact one and the null's, which treats each independent model, not each trigger,
as one draw; both are reported.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from modelsteal.defenses.api_watermark import WatermarkStore
from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers
from modelsteal.ownership.base import Evidence, Owner, OwnershipMethod, whole_number
from modelsteal.ownership.null import Mode, NullDistribution
from modelsteal.random import RandomState, check_random_state


def poisson_binomial_sf(k: int, rates: NDArray[np.float64]) -> float:
    """P(at least ``k`` of independent events with probabilities ``rates`` happen)."""
    if k <= 0:
        return 1.0
    dist = np.zeros(len(rates) + 1)
    dist[0] = 1.0
    for p in rates:  # the law of the count, one row at a time
        dist[1:] = dist[1:] * (1.0 - p) + dist[:-1] * p
        dist[0] *= 1.0 - p
    return float(min(1.0, max(dist[k:].sum(), 0.0)))


def chance_rates(
    null: NullDistribution, labels: NDArray[np.int64], leave_out: int | None = None
) -> NDArray[np.float64]:
    """Each row's chance of its watermark label: the share of independents giving it (+1/+2)."""
    if null.labels is None:
        raise InvalidInput("this null keeps no labels; build it with null_distribution()")
    others = [row for i, row in enumerate(null.labels) if i != leave_out]
    matches = np.sum([row == labels for row in others], axis=0)
    return np.asarray((matches + 1.0) / (len(others) + 2.0), dtype=np.float64)


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
        self.store = str(store)
        self.n_samples = None if n_samples is None else whole_number("n_samples", n_samples)

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

    def _by_key(
        self, evidence: Evidence, answers: NDArray[np.int64], rates: NDArray[np.float64]
    ) -> dict[str, dict[str, Any]]:
        hit = answers == evidence.data["labels"]
        keys = evidence.data["keys"]
        out = {}
        for key, count in Counter(keys.tolist()).items():
            rows = keys == key
            k = int(hit[rows].sum())
            p = poisson_binomial_sf(k, rates[rows])
            out[str(key)] = {
                "watermarks": count,
                "matches": k,
                "chance": float(rates[rows].mean()),
                "p_value": p,
            }
        return out

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        rates = chance_rates(null, evidence.data["labels"])
        by_key = self._by_key(evidence, answers.labels, rates)
        named = min(by_key, key=lambda key: by_key[key]["p_value"])
        matches = int(np.sum(answers.labels == evidence.data["labels"]))
        details = {
            "matches": matches,
            "watermarks": evidence.queries,
            "chance": float(rates.mean()),
            "pooled_p_value": poisson_binomial_sf(matches, rates),
            "by_key": by_key,
            "key": named,
        }
        return min(1.0, len(by_key) * by_key[named]["p_value"]), details

    def false_accusation_rate(
        self, evidence: Evidence, null: NullDistribution, alpha: float, mode: Mode
    ) -> float:
        """Share of independents accused at ``alpha``, each judged per key like a suspect
        against the chance rates of the others."""
        return float(np.mean([p < alpha for p in self.left_out_p_values(evidence, null)]))

    def left_out_p_values(self, evidence: Evidence, null: NullDistribution) -> list[float]:
        """Each independent's verdict p-value, the chance rates measured on the others."""
        if null.labels is None:
            raise InvalidInput("this null keeps no labels; build it with null_distribution()")
        out = []
        for i in range(null.size):
            rates = chance_rates(null, evidence.data["labels"], leave_out=i)
            by_key = self._by_key(evidence, null.labels[i], rates)
            out.append(min(1.0, len(by_key) * min(v["p_value"] for v in by_key.values())))
        return out


#: watermarks whose triggers share one pattern, so their matches are not independent
SHARED_PATTERN = ("ewe",)


class TriggerWatermark(OwnershipMethod):
    """A trigger-set watermark embedded at training (Adi et al. 2018; ``margin``: after Kim et
    al. 2023; ``ewe``: entangled, Jia et al. 2021), verified by the suspect's labels on the
    triggers: its matches tested exactly against each trigger's own chance rate among the
    independents (the module doc).

    The triggers (``train --watermark``: uniform inputs with random labels, or the owner's
    own rows relabelled with ``--watermark-triggers natural``, or for ``ewe`` patched rows of
    one class labelled as another) live in the owner's
    model directory and are never served. ``n_samples`` caps the triggers asked (a seeded
    sample of them).
    """

    name: ClassVar[str] = "watermark"
    tail: ClassVar[Literal["high"]] = "high"
    needs: ClassVar[Literal["labels"]] = "labels"
    campaign_ready = True

    def __init__(self, *, n_samples: int | None = None) -> None:
        self.n_samples = None if n_samples is None else whole_number("n_samples", n_samples)

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        if owner.watermark is None:
            raise InvalidInput(
                "the owner's model directory holds no watermark: train it with --watermark trigger|margin|ewe"
            )
        X, labels = owner.watermark
        if self.n_samples is not None and labels.size > self.n_samples:
            pick = np.sort(
                check_random_state(random_state).choice(labels.size, self.n_samples, replace=False)
            )
            X, labels = X[pick], labels[pick]
        shared = owner.watermark_kind in SHARED_PATTERN
        return Evidence(self.name, X, {"labels": labels, "shared_pattern": shared})

    def score(self, evidence: Evidence, answers: Answers) -> float:
        return float(np.mean(answers.labels == evidence.data["labels"]))

    def judge(
        self, statistic: float, evidence: Evidence, answers: Answers, null: NullDistribution, mode: Mode
    ) -> tuple[float, dict[str, Any]]:
        rates = chance_rates(null, evidence.data["labels"])
        k = int(np.sum(answers.labels == evidence.data["labels"]))
        exact = poisson_binomial_sf(k, rates)
        details = {
            "matches": k,
            "triggers": evidence.queries,
            "chance": float(rates.mean()),
            "exact_p": exact,
        }
        if not evidence.data.get("shared_pattern"):
            return exact, details
        by_model = null.p(statistic, mode)
        details["null_p"] = by_model
        return max(exact, by_model), details

    def false_accusation_rate(
        self, evidence: Evidence, null: NullDistribution, alpha: float, mode: Mode
    ) -> float:
        return float(np.mean([p < alpha for p in self.left_out_p_values(evidence, null)]))

    def left_out_p_values(self, evidence: Evidence, null: NullDistribution) -> list[float]:
        """Each independent's p-value, the chance rates (and for shared-pattern triggers the
        null) measured on the others."""
        labels = evidence.data["labels"]
        if null.labels is None:
            raise InvalidInput("this null keeps no labels; build it with null_distribution()")
        out = []
        for i, row in enumerate(null.labels):
            p = poisson_binomial_sf(int(np.sum(row == labels)), chance_rates(null, labels, leave_out=i))
            if evidence.data.get("shared_pattern"):
                p = max(p, null.without(i).p_value(float(null.statistics[i])))
            out.append(p)
        return out
