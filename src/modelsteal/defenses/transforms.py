"""Answer-side defences: transforms that change the probabilities a client sees.

A transform takes the model's probabilities for a batch and returns what the API shows.
Where it draws noise, the noise is keyed: a SHA-256 of (the transform's secret, the API
key, the row's bytes) seeds each row's generator, so the same client asking the same
input gets the same answer every time, and averaging repeated queries removes nothing.
Every transform works on batches exactly as row by row.

``protect(victim, transforms)`` wraps a victim so that it still predicts but answers
through the transforms: ``LocalTransport(protect(victim, [...]))`` is a defended oracle
without a server.

* :class:`LogitNoise` — Gaussian or Laplace noise of scale σ added to the log-probabilities
  before they are renormalised (noise on the logits, as softmax is blind to a shift).
* :class:`ReverseSigmoid` — Lee, Edraki, Qi, "Defending Against NN Model Stealing Attacks
  Using Deceptive Perturbations" (IEEE S&P Workshops 2019): ``ŷ = α(y − β(s(γ s⁻¹(y)) − ½))``
  with ``s`` the sigmoid and ``α`` the normaliser. **Departure**: the paper's perturbation
  can change the top class for some (β, γ); we clip at 0 and, where the top class moved,
  swap it back, so the defence never costs an honest user a label.
* :class:`PredictionPoisoning` (``mad``) — Orekondy et al. 2020, in ``defenses/poisoning.py``.
* :class:`AdaptiveMisinformation` — Kariyappa & Qureshi 2020, in ``defenses/misinformation.py``.

Transforms that need the served model receive it through ``bind`` once per model:
``protect`` and the gateway both bind before the first answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelsteal.defenses.api_watermark import ApiWatermark
from modelsteal.defenses.misinformation import AdaptiveMisinformation
from modelsteal.defenses.poisoning import PredictionPoisoning
from modelsteal.defenses.transform_base import (
    FLOOR,
    FloatArray,
    Transform,
    check_number,
    normalised,
    row_seeds,
)
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.registry import TRANSFORMS as TRANSFORM_ROWS

__all__ = [
    "FLOOR",
    "TRANSFORMS",
    "AdaptiveMisinformation",
    "ApiWatermark",
    "LogitNoise",
    "PredictionPoisoning",
    "ReverseSigmoid",
    "Transform",
    "parse_transforms",
    "protect",
    "row_seeds",
]


class LogitNoise(Transform):
    """Noise of scale ``sigma`` on the log-probabilities, keyed per (API key, input)."""

    name = "noise"
    keyed = True
    KINDS: ClassVar[tuple[str, ...]] = ("gaussian", "laplace")
    _secret_params = frozenset({"secret"})

    def __init__(self, *, sigma: float, kind: str = "gaussian", secret: str = "modelsteal") -> None:
        self.sigma = check_number("noise", "sigma", sigma, low=0.0)
        if kind not in self.KINDS:
            raise InvalidInput(f"noise: kind must be one of {', '.join(self.KINDS)}, not {kind!r}")
        self.kind = kind
        self.secret = str(secret)

    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        if self.sigma == 0.0:
            return np.asarray(P, dtype=np.float64).copy()
        c = P.shape[1]
        noise = np.empty_like(P, dtype=np.float64)
        for i, seed in enumerate(row_seeds(self.secret, key, X)):
            rng = np.random.default_rng(seed)
            noise[i] = (
                rng.normal(0.0, self.sigma, c) if self.kind == "gaussian" else rng.laplace(0.0, self.sigma, c)
            )
        Z = np.log(np.maximum(P, FLOOR)) + noise
        Z -= Z.max(axis=1, keepdims=True)
        return normalised(np.exp(Z))


class ReverseSigmoid(Transform):
    """Reverse sigmoid (Lee et al. 2019), top-1 preserving: ``β`` scales the perturbation,
    ``γ`` its steepness."""

    name = "reverse_sigmoid"
    preserves_top1 = True

    def __init__(self, *, beta: float, gamma: float) -> None:
        self.beta = check_number("reverse_sigmoid", "beta", beta, low=0.0, open_low=True)
        self.gamma = check_number("reverse_sigmoid", "gamma", gamma, low=0.0, open_low=True)

    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        P = np.asarray(P, dtype=np.float64)
        p = np.clip(P, 1e-12, 1.0 - 1e-12)
        logit = np.log(p) - np.log1p(-p)
        r = self.beta * (1.0 / (1.0 + np.exp(-self.gamma * logit)) - 0.5)
        Q = np.maximum(P - r, 0.0)
        zero = Q.sum(axis=1) <= 0.0
        Q[zero] = P[zero]  # nothing left: show the model's own answer
        Q = normalised(Q)
        top, shown = np.argmax(P, axis=1), np.argmax(Q, axis=1)
        moved = np.flatnonzero(top != shown)
        Q[moved, top[moved]], Q[moved, shown[moved]] = Q[moved, shown[moved]], Q[moved, top[moved]]
        return Q


#: the transforms by name (rows in ``modelsteal.registry``)
TRANSFORMS = TRANSFORM_ROWS


def parse_transforms(
    spec: Any, *, where: str = "transforms", base_dir: Path | None = None
) -> list[Transform]:
    """Transforms from a policy's list: ``[{reverse_sigmoid: {beta: 0.7, gamma: 0.2}}, {noise: {sigma: 0.5}}]``.

    A relative path among a transform's parameters (the misinformation model) is read
    from ``base_dir``, the policy file's folder, when given.
    """
    if spec is None:
        return []
    if not isinstance(spec, list):
        raise InvalidInput(f"{where} must be a list of {{name: {{parameters}}}}, applied in order")
    out: list[Transform] = []
    for item in spec:
        if not isinstance(item, dict) or len(item) != 1:
            raise InvalidInput(f"{where}: each entry is one {{name: {{parameters}}}}, not {item!r}")
        ((name, params),) = item.items()
        cls = TRANSFORMS.get(str(name))
        if cls is None:
            raise InvalidInput(f"{where}: unknown transform {name!r}; choose one of {', '.join(TRANSFORMS)}")
        if params is not None and not isinstance(params, dict):
            raise InvalidInput(f"{where}: {name}: parameters must be a mapping, not {params!r}")
        kwargs = dict(params or {})
        for field in getattr(cls, "paths", ()):
            value = kwargs.get(field)
            if base_dir is not None and isinstance(value, str) and not Path(value).is_absolute():
                kwargs[field] = str(base_dir / value)
        try:
            out.append(cls(**kwargs))
        except TypeError as exc:
            raise InvalidInput(f"{where}: {name}: {exc}") from None
    return out


class ProtectedVictim:
    """A victim whose answers pass through ``transforms`` (for the client ``key``)."""

    def __init__(self, victim: Any, transforms: list[Transform], *, key: str = "local") -> None:
        self.victim = victim
        self.transforms = [t.bind(victim) for t in transforms]
        self.key = key
        self.classes_ = victim.classes_
        self.feature_space: FeatureSpace = victim.feature_space
        self.family: str = victim.family
        self.details: dict[str, Any] = dict(victim.details)
        # a model that answers incomplete queries (trees) still does behind the transforms
        self.supports_missing: bool = bool(getattr(victim, "supports_missing", False))

    def predict_proba(self, X: FloatArray) -> FloatArray:
        X = np.asarray(X, dtype=np.float64)
        P = np.asarray(self.victim.predict_proba(X), dtype=np.float64)
        for transform in self.transforms:
            P = transform.apply(P, X, self.key)
        return P

    def predict(self, X: FloatArray) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


def protect(
    victim: Any, transforms: list[Transform] | list[dict[str, Any]], *, key: str = "local"
) -> ProtectedVictim:
    """``victim`` answering through ``transforms`` (objects, or a policy's list of dicts)."""
    parsed = [t for t in transforms if isinstance(t, Transform)]
    if len(parsed) != len(transforms):
        parsed = parse_transforms(transforms)
    return ProtectedVictim(victim, parsed, key=key)
