"""Fingerprints that change nothing in the owner's model: sample correlation (SAC-m, SAC-w).

Guan, Liang, He. "Are You Stealing My Model? Sample Correlation for Fingerprinting Deep
Neural Networks", NeurIPS 2022. A model is described not by its answers to single inputs
but by how its answers to pairs of inputs correlate: C[i, j] is the cosine similarity of
its outputs on samples i and j. A copy made by extraction inherits the owner's pairwise
correlations on inputs where models disagree most, while an independent model trained on
the same distribution does not. SAC-m draws those inputs with CutMix (a rectangle of one
image pasted into another), which places them between classes, where each model's
idiosyncrasies show. The statistic is the mean absolute difference of the owner's and the
suspect's correlation matrices; a copy's is low.

SAC-w, the paper's other variant, correlates answers on the owner's own **mistakes**:
public rows with a known label that the owner's model gets wrong. A copy made by
extraction learned the owner's answers, wrong ones included, where an independent model
learned the truth; on digits and mnist5k CNNs it is the variant that tells API copies from
independents (``bench/ownership.py``), where SAC-m does so only when the owner has errors
to spare.

**Departures from the paper**: tabular owners get CutMix's analogue (a random share of the
features taken from the second row); the label variant (``answers="labels"``) correlates
one-hot labels, so it works against label-only APIs (SAC-w's label variant scores the share
of the owner's wrong labels the suspect does *not* repeat, which separates better than
correlating one-hot labels did in our runs: AUC 0.99–1.0 against 0.87–0.96); the paper's threshold, set on its
independent models, is replaced by our calibrated p-value (``null.py``).

**Tempered variants** (``sac-m-tempered``, ``sac-w-tempered``; ours, not the paper's): how
confident a copy is depends on how it was trained (epochs, augmentation, labels or
probabilities bought), not on what it learned from the owner. A copy fitted for 150 epochs
to hard labels answers almost one-hot, and its cosine similarities then differ from the
owner's soft ones even where it ranks the classes as the owner does. The tempered score
rescales the suspect's log-probabilities by each temperature of a fixed grid
(``TEMPERATURES``) and keeps the smallest distance to the owner's matrix. Independents get
the same minimum in the null, so the p-value stays calibrated; what is left is the shape
of the correlations, not the confidence. Over five draws of the queries in
``bench/ownership.py`` (zoo of 100) it lifted SAC-m's AUC on digits and not on mnist5k
(README has the figures).

**Relative variants** (``sac-m-relative``, ``sac-m-relative-labels``; ours): the distance to
the owner minus the suspect's mean distance to the independents of the zoo, on the same
queries. Correlations read the architecture first: a CNN trained on the same distribution
is close to a CNN owner, and just as close to the other CNNs of the zoo. A copy is close
to the owner in particular. The independents' answers are the ones the null already
gathers (``OwnershipMethod.calibrate``), so this costs no query; an independent scored for
the null is not compared with itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import numpy as np

from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers
from modelsteal.ownership.base import (
    Evidence,
    FloatArray,
    Owner,
    OwnershipMethod,
    answers_kind,
    whole_number,
)
from modelsteal.random import RandomState, check_random_state

#: the share of a sample CutMix takes from the second row is drawn from this range
MIX_SHARE = (0.3, 0.7)
#: the temperatures a tempered score tries on the suspect's log-probabilities (1 among them)
TEMPERATURES = np.geomspace(1 / 8, 64, 19)
#: probabilities are floored here before their logarithm (an API may round small ones to 0)
PROBABILITY_FLOOR = 1e-12


def cutmix(owner: Owner, n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` CutMix samples from pairs of the owner's public rows (a feature share for tables)."""
    X = owner.X_public
    if X.shape[0] < 2:
        raise InvalidInput("SAC-m mixes pairs of the owner's rows; the model directory holds fewer than 2")
    a = rng.integers(0, X.shape[0], n)
    b = (a + rng.integers(1, X.shape[0], n)) % X.shape[0]  # never a row with itself
    share = rng.uniform(*MIX_SHARE, n)
    out = X[a].copy()
    shape = owner.feature_space.image_shape
    for i in range(n):
        if shape is not None and len(shape) == 2:
            h, w = shape
            bh = max(1, round(h * np.sqrt(share[i])))
            bw = max(1, round(w * np.sqrt(share[i])))
            top, left = rng.integers(0, h - bh + 1), rng.integers(0, w - bw + 1)
            box = np.zeros((h, w), dtype=bool)
            box[top : top + bh, left : left + bw] = True
            mask = box.ravel()
        else:
            mask = rng.random(X.shape[1]) < share[i]
        out[i, mask] = X[b[i], mask]
    return out


def correlation(outputs: FloatArray) -> FloatArray:
    """Cosine similarity of every pair of rows of ``outputs``."""
    norms = np.linalg.norm(outputs, axis=1, keepdims=True)
    unit = outputs / np.maximum(norms, 1e-12)
    corr: FloatArray = unit @ unit.T
    return corr


def correlation_distance(outputs: FloatArray, reference: FloatArray) -> float:
    """Mean absolute difference of ``outputs``' correlation matrix and ``reference`` off the
    diagonal (which is 1 on both sides)."""
    diff = np.abs(correlation(outputs) - reference)
    n = diff.shape[0]
    return float(diff.sum() / (n * (n - 1)))


def tempered(probabilities: FloatArray, temperature: float) -> FloatArray:
    """``probabilities`` with their log divided by ``temperature``, renormalised (softmax)."""
    z = np.log(np.maximum(probabilities, PROBABILITY_FLOOR)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def tempered_distance(probabilities: FloatArray, reference: FloatArray) -> tuple[float, float]:
    """The smallest :func:`correlation_distance` over ``TEMPERATURES``, and its temperature."""
    distances = [correlation_distance(tempered(probabilities, t), reference) for t in TEMPERATURES]
    best = int(np.argmin(distances))
    return distances[best], float(TEMPERATURES[best])


class SampleCorrelation(OwnershipMethod):
    """SAC-m (Guan et al. 2022): the correlation of the suspect's answers on CutMix samples.

    Parameters
    ----------
    n_samples:
        CutMix samples, one query each (the paper: 50 suffice).
    answers:
        ``probabilities`` (correlate probability vectors) or ``labels`` (one-hot labels;
        works against label-only APIs).
    temperature:
        ``as-given`` (the paper) or ``fitted``: the suspect's probabilities are judged at the
        temperature that brings them closest to the owner's (module doc); probabilities only.
    relative:
        ``False`` (the paper) or ``True``: the distance to the owner minus the mean distance
        to the independents (module doc); the null must be built (``null_distribution``)
        before a suspect is scored.
    """

    tail: ClassVar[Literal["low"]] = "low"
    campaign_ready = True
    #: the registry name's stem; variants add -relative, -tempered, -labels
    stem: ClassVar[str] = "sac-m"
    min_samples: ClassVar[int] = 2
    #: whether ``relative=True`` is offered (module doc)
    relative_variant: ClassVar[bool] = True

    def __init__(
        self,
        *,
        n_samples: int = 100,
        answers: Literal["probabilities", "labels"] = "labels",
        temperature: Literal["as-given", "fitted"] = "as-given",
        relative: bool = False,
    ) -> None:
        whole_number("n_samples", n_samples, self.min_samples)
        answers_kind(answers)
        if temperature not in ("as-given", "fitted"):
            raise InvalidInput(f"temperature must be 'as-given' or 'fitted', not {temperature!r}")
        if temperature == "fitted" and answers == "labels":
            raise InvalidInput(
                "a fitted temperature rescales probabilities, and labels have none: use "
                "temperature='as-given' with labels, or answers='probabilities'"
            )
        if not isinstance(relative, bool):
            raise InvalidInput(f"relative must be True or False, not {relative!r}")
        if relative and not self.relative_variant:
            raise InvalidInput(f"{self.stem} has no relative variant: use sac-m-relative")
        self.n_samples = n_samples
        self.answers = answers
        self.temperature = temperature
        self.relative = relative

    @property
    def name(self) -> str:  # type: ignore[override]
        parts = [
            self.stem,
            "relative" if self.relative else "",
            "tempered" if self.temperature == "fitted" else "",
            "labels" if self.answers == "labels" else "",
        ]
        return "-".join(p for p in parts if p)

    def calibrate(self, evidence: Evidence, independents: Sequence[Answers]) -> None:
        if self.relative:
            n_classes = int(evidence.data["n_classes"])
            evidence.data["independents"] = [correlation(self._outputs(a, n_classes)) for a in independents]

    def _distance(self, outputs: FloatArray, reference: FloatArray) -> float:
        """Correlation distance, at the fitted temperature when asked (probabilities only)."""
        if self.temperature == "fitted":
            return tempered_distance(outputs, reference)[0]
        return correlation_distance(outputs, reference)

    @property
    def needs(self) -> Literal["labels", "probabilities"]:  # type: ignore[override]
        return self.answers

    def _outputs(self, answers: Answers, n_classes: int) -> FloatArray:
        if self.answers == "labels":
            return np.eye(n_classes)[answers.labels]
        return answers.require_probabilities(self.name)

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        rng = check_random_state(random_state)
        X = cutmix(owner, self.n_samples, rng)
        n_classes = len(owner.classes)
        proba = owner.victim.predict_proba(X)
        owner_answers = Answers(labels=np.argmax(proba, axis=1), probabilities=proba)
        reference = correlation(self._outputs(owner_answers, n_classes))
        return Evidence(self.name, X, {"reference": reference, "n_classes": n_classes})

    def score(self, evidence: Evidence, answers: Answers) -> float:
        outputs = self._outputs(answers, int(evidence.data["n_classes"]))
        to_owner = self._distance(outputs, evidence.data["reference"])
        if not self.relative:
            return to_owner
        if "independents" not in evidence.data:
            raise InvalidInput(
                f"{self.name} compares the suspect with the independents too: build the null "
                "(null_distribution) from this evidence before scoring a suspect"
            )
        distances = [self._distance(outputs, r) for r in evidence.data["independents"]]
        others = [d for d in distances if d > 0.0]  # an independent scored for the null: not itself
        return to_owner - float(np.mean(others)) if others else to_owner


#: SAC-w needs at least this many of the owner's mistakes to correlate
MIN_MISTAKES = 10


def owner_mistakes(owner: Owner, n: int, rng: np.random.Generator) -> FloatArray:
    """Up to ``n`` public rows the owner's model gets wrong (a seeded sample when there are more)."""
    if owner.y_public is None:
        raise InvalidInput(
            "SAC-w needs the true labels of the owner's public rows to find its mistakes; the model "
            "directory keeps none: save it with its eval rows' labels (modelsteal train does)"
        )
    predicted = np.argmax(owner.victim.predict_proba(owner.X_public), axis=1)
    wrong = np.flatnonzero(predicted != owner.y_public)
    if wrong.size < MIN_MISTAKES:
        raise InvalidInput(
            f"SAC-w correlates the owner's mistakes and its model gets only {wrong.size} of "
            f"{owner.y_public.size} public rows wrong (at least {MIN_MISTAKES} needed): keep more "
            "labelled eval rows in the model directory, or use sac-m"
        )
    if wrong.size > n:
        wrong = np.sort(rng.choice(wrong, n, replace=False))
    rows: FloatArray = owner.X_public[wrong]
    return rows


class MistakeCorrelation(SampleCorrelation):
    """SAC-w (Guan et al. 2022): the suspect's answers on the owner's misclassified public rows.

    With probabilities, the statistic is SAC-m's: the mean absolute difference of the
    owner's and the suspect's correlation matrices over those rows. With labels (a
    departure, see the module doc), it is the share of the owner's wrong labels the suspect
    does not repeat. Both are 0 for the owner itself; copies lie low.

    Parameters
    ----------
    n_samples:
        Most mistakes to ask about, one query each (a seeded sample when the owner has more;
        fewer when it has fewer, at least 10).
    answers:
        ``probabilities`` or ``labels`` (works against label-only APIs).
    temperature:
        ``as-given`` or ``fitted``, as for SAC-m (probabilities only).
    """

    stem: ClassVar[str] = "sac-w"
    min_samples: ClassVar[int] = MIN_MISTAKES
    #: the relative score is SAC-m's (``sac-m-relative``)
    relative_variant: ClassVar[bool] = False

    def prepare(self, owner: Owner, *, random_state: RandomState = 0) -> Evidence:
        X = owner_mistakes(owner, self.n_samples, check_random_state(random_state))
        proba = owner.victim.predict_proba(X)
        data = {"labels": np.argmax(proba, axis=1), "n_classes": len(owner.classes)}
        if self.answers == "probabilities":
            data["reference"] = correlation(proba)
        return Evidence(self.name, X, data)

    def score(self, evidence: Evidence, answers: Answers) -> float:
        if self.answers == "labels":
            return float(np.mean(answers.labels != evidence.data["labels"]))
        return self._distance(answers.require_probabilities(self.name), evidence.data["reference"])
