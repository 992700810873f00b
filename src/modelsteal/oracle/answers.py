"""What a prediction API returns, and the output modes that decide how much it reveals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from modelsteal.catalog import OUTPUT_KINDS
from modelsteal.errors import InvalidInput, UnsupportedOracle

OutputKind = Literal["probabilities", "top_k", "label", "confidence"]


@dataclass(frozen=True)
class OutputMode:
    """How much of the model's output a client sees.

    ``probabilities``: the whole vector; ``top_k``: the ``k`` largest classes with their
    probabilities; ``label``: the top-1 class only; ``confidence``: the top-1 class with a
    BigML-style confidence (for trees, the Wilson lower bound of the majority class's share
    of the training rows in the node reached; for other models, the top-1 probability).
    ``decimals`` rounds what is shown.
    """

    kind: OutputKind = "probabilities"
    k: int = 1
    decimals: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in OUTPUT_KINDS:
            raise InvalidInput(f"unknown output mode {self.kind!r}; choose one of {', '.join(OUTPUT_KINDS)}")
        if self.k < 1:
            raise InvalidInput("top_k needs k >= 1")
        if self.decimals is not None and not 0 <= self.decimals <= 17:
            raise InvalidInput("decimals must be between 0 and 17")

    @property
    def gives_probabilities(self) -> bool:
        return self.kind == "probabilities"

    def describe(self) -> str:
        base = {
            "probabilities": "probabilities",
            "top_k": f"top-{self.k}",
            "label": "label only",
            "confidence": "label with confidence",
        }[self.kind]
        return base if self.decimals is None else f"{base}, {self.decimals} decimals"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "k": self.k, "decimals": self.decimals}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutputMode:
        return cls(data.get("kind", "probabilities"), int(data.get("k", 1)), data.get("decimals"))


@dataclass(frozen=True)
class Answers:
    """An API's answers to a batch: labels always; more as the output mode allows.

    ``labels`` are class indices into ``classes``. ``probabilities`` has one column per
    class; ``top_k_classes``/``top_k_probabilities`` hold the k best per row.
    """

    labels: NDArray[np.int64]
    probabilities: NDArray[np.float64] | None = None
    top_k_classes: NDArray[np.int64] | None = None
    top_k_probabilities: NDArray[np.float64] | None = None
    confidences: NDArray[np.float64] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def require_probabilities(self, attack: str) -> NDArray[np.float64]:
        if self.probabilities is None:
            raise UnsupportedOracle(
                f"{attack} needs full probability vectors, and this API returns "
                f"{'top-k' if self.top_k_classes is not None else 'labels only'}; "
                "query with an API key whose output mode gives probabilities"
            )
        return self.probabilities

    @staticmethod
    def concatenate(parts: list[Answers]) -> Answers:
        if not parts:
            raise ValueError("no answers to concatenate")

        def cat(name: str) -> Any:
            arrays = [getattr(p, name) for p in parts]
            return None if any(a is None for a in arrays) else np.concatenate(arrays, axis=0)

        return Answers(
            cat("labels"),
            cat("probabilities"),
            cat("top_k_classes"),
            cat("top_k_probabilities"),
            cat("confidences"),
        )


def apply_output_mode(
    proba: NDArray[np.float64], mode: OutputMode, confidence: NDArray[np.float64] | None = None
) -> Answers:
    """Turn the model's probabilities into what a client in ``mode`` sees.

    ``confidence`` is the model's own per-row confidence (trees give one); without it the
    confidence mode shows the top-1 probability.
    """
    labels = np.argmax(proba, axis=1).astype(np.int64)
    if mode.kind == "confidence":
        conf = proba[np.arange(proba.shape[0]), labels] if confidence is None else confidence
        conf = np.asarray(conf, dtype=np.float64)
        return Answers(labels, confidences=conf if mode.decimals is None else np.round(conf, mode.decimals))
    shown = proba if mode.decimals is None else np.round(proba, mode.decimals)
    if mode.kind == "probabilities":
        return Answers(labels, np.array(shown, dtype=np.float64, copy=True))
    if mode.kind == "top_k":
        k = min(mode.k, proba.shape[1])
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k].astype(np.int64)
        return Answers(labels, None, order, np.take_along_axis(shown, order, axis=1))
    return Answers(labels)


def victim_answers(victim: Any, X: NDArray[np.float64], mode: OutputMode) -> Answers:
    """Ask ``victim`` about ``X`` and show its answers in ``mode``.

    A victim with ``predict_proba_and_confidence`` (the tree adapter) supplies its own
    confidences.
    """
    if mode.kind == "confidence" and hasattr(victim, "predict_proba_and_confidence"):
        proba, confidence = victim.predict_proba_and_confidence(X)
        return apply_output_mode(proba, mode, confidence)
    return apply_output_mode(victim.predict_proba(X), mode)
