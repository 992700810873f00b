"""One file and one registry row per new part: nothing else is edited to add one.

This module defines an attack, a transform, a detector and an ownership method of its own,
registers each with one row, and shows that the CLI lists the attack, the attack contract
runs it, and one campaign cell plays all four (the attack against a policy that answers
through the transform and watches with the detector, the copy verified by the method),
with the report naming each. Guards are not parts with a registry yet (see
docs/architecture.md), so none is added here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytest
from numpy.typing import NDArray

from modelsteal.attacks.base import AttackContext, ExtractionAttack
from modelsteal.campaigns.report import build_report
from modelsteal.campaigns.runner import LocalExecutor, run_campaign
from modelsteal.campaigns.spec import campaign_from_dict
from modelsteal.campaigns.store import CampaignStore
from modelsteal.cli import main
from modelsteal.defenses.detectors import Alarm, Detector, StreamState
from modelsteal.defenses.transform_base import Transform
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.answers import Answers
from modelsteal.ownership.base import Evidence, Owner, OwnershipMethod
from modelsteal.random import RandomState, check_random_state
from modelsteal.registry import ATTACKS, DETECTORS, OWNERSHIP_METHODS, TRANSFORMS, Row
from tests.contracts.test_attacks import check_attack_contract

FloatArray = NDArray[np.float64]
HERE = "tests.contracts.test_new_parts"


# ---------------------------------------------------------------------- the parts
class NearestCopy:
    """A copy that answers each row with the label the API gave its nearest queried row."""

    def __init__(self, X: FloatArray, labels: NDArray[np.int64], n_classes: int) -> None:
        self.X, self.labels = X, labels
        self.classes_ = np.arange(n_classes)

    def predict_proba(self, X: FloatArray) -> FloatArray:
        nearest = np.argmin(((X[:, None, :] - self.X[None, :, :]) ** 2).sum(axis=2), axis=1)
        return np.eye(self.classes_.size)[self.labels[nearest]]

    def predict(self, X: FloatArray) -> NDArray[np.int64]:
        return np.asarray(self.predict_proba(X).argmax(axis=1))


class NearestAnswer(ExtractionAttack):
    """Label a share of the budget in uniform rows and copy the nearest answer (this test's own)."""

    name = "nearest-answer"
    reads = "labels"

    def __init__(self, *, share: float = 1.0) -> None:
        self.share = share

    def _extract(self, ctx: AttackContext) -> NearestCopy:
        X = ctx.info.feature_space.sample_uniform(max(1, int(ctx.budget_left * self.share)), ctx.rng)
        return NearestCopy(X, ctx.oracle.query(X).labels, ctx.info.n_classes)


class Flatten(Transform):
    """Mixes ``weight`` of the uniform distribution into every answer (top-1 kept)."""

    name = "flatten"
    preserves_top1 = True

    def __init__(self, *, weight: float = 0.1) -> None:
        self.weight = weight

    def params(self) -> dict[str, Any]:
        return {"weight": self.weight}

    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        return np.asarray((1.0 - self.weight) * P + self.weight / P.shape[1])


@dataclass(frozen=True)
class BigBatches(Detector):
    """Alarms when a key sends a batch of ``rows`` rows or more."""

    name: ClassVar[str] = "big_batches"
    rows: int = 50

    def stream(self, space: FeatureSpace, n_classes: int) -> StreamState:
        return _BigBatchState(self)


class _BigBatchState(StreamState):
    def __init__(self, cfg: BigBatches) -> None:
        super().__init__()
        self.cfg, self.largest = cfg, 0

    @property
    def threshold(self) -> float:
        return float(self.cfg.rows)

    def _update(self, X: FloatArray, proba: FloatArray, now: float) -> None:
        self.largest = max(self.largest, X.shape[0])

    def _check(self) -> Alarm | None:
        return self._at_least(BigBatches.name, float(self.largest), self.threshold, "a large batch")

    def nbytes(self) -> int:
        return 8


class Agreement(OwnershipMethod):
    """The share of the owner's public rows the suspect labels as the owner does."""

    name: ClassVar[str] = "agreement"
    tail: ClassVar[Literal["high"]] = "high"
    needs: ClassVar[Literal["labels"]] = "labels"
    campaign_ready = True

    def __init__(self, *, n_samples: int = 50) -> None:
        self.n_samples = n_samples

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        rng = check_random_state(random_state)
        X = owner.X_public[rng.permutation(owner.X_public.shape[0])[: self.n_samples]]
        return Evidence(self.name, X, {"labels": owner.victim.predict(X)})

    def score(self, evidence: Evidence, answers: Answers) -> float:
        return float(np.mean(answers.labels == evidence.data["labels"]))


ROWS = [
    (ATTACKS, Row("nearest-answer", HERE, "NearestAnswer", "Copy the nearest answer (a test's own attack).")),
    (TRANSFORMS, Row("flatten", HERE, "Flatten", "Mix some uniform distribution into each answer.")),
    (DETECTORS, Row("big_batches", HERE, "BigBatches", "A batch of many rows.")),
    (
        OWNERSHIP_METHODS,
        Row("agreement", HERE, "Agreement", "Share of public rows labelled as the owner does."),
    ),
]


@pytest.fixture()
def registered() -> Iterator[None]:
    """The four rows, for this test only."""
    for registry, row in ROWS:
        registry.register(row)
    try:
        yield
    finally:
        for registry, row in ROWS:
            registry.unregister(row.name)


# ---------------------------------------------------------------------- what picks them up
def test_a_new_part_is_one_class_and_one_row(
    registered: None,
    victim_factory: Callable,
    theft_factory: Callable,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["attacks"]) == 0
    assert "nearest-answer" in capsys.readouterr().out
    check_attack_contract("nearest-answer", victim_factory, theft_factory, tmp_path)

    big = ["1000000/day"]
    spec = {
        "name": "new-parts",
        "victims": {"softmax": {"train": {"dataset": "digits", "family": "softmax", "victim_rows": 673}}},
        "policies": {
            "flat": {
                "tiers": {
                    "default": {
                        "key_limits": big,
                        "ip_limits": big,
                        "transforms": [{"flatten": {"weight": 0.2}}],
                    }
                },
                "detection": {"detectors": {"big_batches": {"rows": 20}}},
            }
        },
        "attacks": {"near": {"attack": "nearest-answer", "options": {"share": 0.5}}},
        "budgets": [60],
        "seeds": [0],
        "ownership": {"methods": ["agreement"], "zoo": 5, "families": ["softmax"], "queries": 40},
    }
    out = tmp_path / "campaign"
    run_campaign(campaign_from_dict(spec), out, executor=LocalExecutor(1))
    rows = [r for r in CampaignStore(out).rows() if r.kind == "attack"]
    assert [r.status for r in rows] == ["done"], [r.error for r in rows]
    result = rows[0].result
    assert result["queries"] == 30  # the attack's share of its budget, exactly
    assert result["params"] == {"share": 0.5}  # the cell records how the attack was configured
    assert "big_batches" in result["alarms"]  # the detector watched the thief's batches
    verdict = result["ownership"]["agreement"]
    assert "error" not in verdict and verdict["queries"] == 40 and 0.0 <= verdict["p_value"] <= 1.0
    page = build_report(out).read_text()
    for name in ("nearest-answer", "flatten", "big_batches", "agreement"):
        assert name in page, name
    assert json.loads(json.dumps(result))  # the cell's record is plain JSON
