"""Adaptive misinformation: wrong answers for queries that look out of distribution.

:class:`AdaptiveMisinformation` is Kariyappa & Qureshi, "Defending Against Model Stealing
Attacks with Adaptive Misinformation" (CVPR 2020). Thieves without the owner's data query
with other images, which a victim trained with Outlier Exposure (Hendrycks et al. 2019;
``modelsteal train --outlier-exposure POOL``) answers with low confidence. For a query whose
top probability is ``m``, the answer is ``(1 − α) f(x) + α f̂(x)`` with
``α = 1 / (1 + exp(ν (m − τ)))``: confident (in-distribution) queries get the model's answer,
unsure ones the answer of a *misinformation model* ``f̂`` trained to put its mass on wrong
classes (``modelsteal train --misinformation``, loss ``−log(1 − f̂(x)_y)``).

Where we depart from the paper: the misinformation model is a model directory of its own
(any family modelsteal trains), loaded at policy load and checked against the served model
when bound; it is evaluated one row at a time, so a batch answers exactly as its rows do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.defenses.transform_base import FloatArray, Transform, check_number, normalised
from modelsteal.errors import InvalidInput, ModelDirError

HOW = "train one with `modelsteal train ... --misinformation --out DIR` and name DIR as model"


def load_misinformation_model(path: str | Path) -> Any:
    from modelsteal.victims.model_dir import load_model_dir

    try:
        md = load_model_dir(path)
    except (ModelDirError, OSError) as exc:
        raise InvalidInput(f"adaptive_misinformation: model {path}: {exc}; {HOW}") from None
    if not md.card.get("details", {}).get("misinformation"):
        raise InvalidInput(f"adaptive_misinformation: {path} is not a misinformation model; {HOW}")
    return md.victim


class AdaptiveMisinformation(Transform):
    """Kariyappa & Qureshi 2020: blend in a misinformation model's answer as the top
    probability falls below ``tau`` (steepness ``nu``)."""

    name = "adaptive_misinformation"
    paths = ("model",)

    def __init__(self, *, tau: float, nu: float = 1000.0, model: Any = None) -> None:
        self.tau = check_number("adaptive_misinformation", "tau", tau, low=0.0, high=1.0)
        self.nu = check_number("adaptive_misinformation", "nu", nu, low=0.0, open_low=True)
        if model is None:
            raise InvalidInput(f"adaptive_misinformation needs its misinformation model; {HOW}")
        if isinstance(model, str | Path):
            self.model_path: str | None = str(model)
            self.misinformation = load_misinformation_model(model)
        else:
            self.model_path = None
            self.misinformation = model

    def get_params(self) -> dict[str, Any]:
        # the model as given: its directory, or the model itself when it came in memory
        return {"tau": self.tau, "nu": self.nu, "model": self.model_path or self.misinformation}

    def params(self) -> dict[str, Any]:
        return {"tau": self.tau, "nu": self.nu, "model": self.model_path}

    def bind(self, victim: Any) -> AdaptiveMisinformation:
        mine, theirs = self.misinformation, victim
        if len(mine.classes_) != len(theirs.classes_):
            raise InvalidInput(
                f"adaptive_misinformation: the misinformation model has {len(mine.classes_)} classes, "
                f"the served model {len(theirs.classes_)}; train it on the served model's data"
            )
        if mine.feature_space.n_features != theirs.feature_space.n_features:
            raise InvalidInput(
                f"adaptive_misinformation: the misinformation model takes {mine.feature_space.n_features} "
                f"features, the served model {theirs.feature_space.n_features}; train it on the served model's data"
            )
        return self

    def weights(self, P: FloatArray) -> FloatArray:
        """α per row: 0 for confident answers, towards 1 below ``tau``."""
        z = np.clip(self.nu * (P.max(axis=1) - self.tau), -700.0, 700.0)
        return np.asarray(1.0 / (1.0 + np.exp(z)))

    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        P = np.asarray(P, dtype=np.float64)
        alpha = self.weights(P)
        out = P.copy()
        for i in np.flatnonzero(alpha > 1e-15):  # below that the blend moves no bit that matters
            wrong = np.asarray(self.misinformation.predict_proba(X[i : i + 1]), dtype=np.float64)[0]
            out[i] = (1.0 - alpha[i]) * P[i] + alpha[i] * wrong
        return normalised(out) if out.size else out
