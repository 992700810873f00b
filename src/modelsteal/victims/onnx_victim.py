"""A victim run by onnxruntime: a model exported by modelsteal, or one a user brings.

The graph must take one tensor input — rows ``[n, d]``, or images ``[n, 1, h, w]`` /
``[n, h, w]`` for a feature space with an image shape — in float32 or float64, and give
per-class scores: an output named ``probabilities`` (or ``probability``, ``output_probability``,
``proba``), else the first output of shape ``[n, c]``. scikit-learn's ZipMap output (a
list of {class: probability}) is read too. Scores that are not probabilities (rows that do
not sum to one) are logits only if the caller says so (``outputs="logits"``): a victim
never guesses what its numbers mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import ModelDirError
from modelsteal.feature_space import FeatureSpace

FloatArray = NDArray[np.float64]
PROBABILITY_NAMES = ("probabilities", "probability", "output_probability", "proba")
OUTPUT_KINDS = ("probabilities", "logits")


def onnx_session(path: str | Path) -> Any:
    """An onnxruntime session on one thread, on the CPU (a victim's or an exported copy's)."""
    import onnxruntime as ort  # lazy: only ONNX victims and exports need it, and it is slow to import

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxVictim:
    """An ONNX classifier as a victim; ``predict_proba`` runs it with onnxruntime."""

    supports_missing = False

    def __init__(
        self,
        path: str | Path,
        feature_space: FeatureSpace,
        classes: NDArray[Any],
        *,
        family: str = "onnx",
        details: dict[str, Any] | None = None,
        outputs: str = "probabilities",
        batch_size: int = 4096,
    ) -> None:
        if outputs not in OUTPUT_KINDS:
            raise ModelDirError(f"outputs must be one of {', '.join(OUTPUT_KINDS)}")
        self.path = Path(path)
        self.feature_space = feature_space
        self.classes_ = np.asarray(classes)
        self.family = family
        self.details = dict(details or {})
        self.outputs = outputs
        self.batch_size = batch_size
        try:
            self.session = onnx_session(self.path)
        except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
            raise ModelDirError(f"{self.path} is not an ONNX model onnxruntime can run: {exc}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise ModelDirError(
                f"{self.path} takes {len(inputs)} inputs ({names}); modelsteal runs one-input models"
            )
        self.input = inputs[0]
        self.input_dtype = np.float64 if "double" in self.input.type else np.float32
        if "float" not in self.input.type and "double" not in self.input.type:
            raise ModelDirError(
                f"{self.path}: input {self.input.name!r} is {self.input.type}; it must be float"
            )
        self.input_shape = self._input_shape()
        self.output = self._pick_output()
        probe = self.feature_space.sample_uniform(4, random_state=0)
        scores = self._scores(probe)
        if scores.shape != (4, self.classes_.size):
            raise ModelDirError(
                f"{self.path} answers {scores.shape[1] if scores.ndim == 2 else scores.shape} scores per row, "
                f"but the model has {self.classes_.size} classes; check the classes or the output"
            )
        if outputs == "probabilities" and not _are_probabilities(scores):
            raise ModelDirError(
                f"{self.path}: output {self.output!r} is not probabilities (rows do not sum to 1); if it gives "
                "logits, import it with --outputs logits"
            )

    def _input_shape(self) -> tuple[int, ...]:
        d = self.feature_space.n_features
        dims = list(self.input.shape)
        if len(dims) == 2:
            width = dims[1]
            if isinstance(width, int) and width != d:
                raise ModelDirError(
                    f"{self.path} takes rows of {width} features, but the feature space has {d}; "
                    "give the feature space of this model"
                )
            return (d,)
        image = self.feature_space.image_shape
        if image is not None and len(dims) in (3, 4):
            shape = tuple(image) if len(dims) == 3 else (1, *image)
            fixed = [s for s in dims[1:] if isinstance(s, int)]
            if fixed and tuple(fixed) != shape[-len(fixed) :]:
                raise ModelDirError(f"{self.path} takes images of shape {dims[1:]}, not {shape}")
            return shape
        raise ModelDirError(
            f"{self.path}: input shape {dims} cannot be resolved for {d} features; modelsteal takes "
            "[n, d] rows, or [n, 1, h, w] images with an image feature space"
        )

    def _pick_output(self) -> str:
        outputs = self.session.get_outputs()
        for out in outputs:
            if out.name.lower() in PROBABILITY_NAMES:
                return str(out.name)
        for out in outputs:
            if ("tensor(float" in out.type or "tensor(double" in out.type) and len(out.shape) == 2:
                return str(out.name)
        for out in outputs:
            if out.type.startswith("seq(map"):
                return str(out.name)
        raise ModelDirError(
            f"{self.path} has no output of per-class scores (outputs: "
            f"{', '.join(f'{o.name} {o.type}' for o in outputs)}); it is not a classifier modelsteal can run"
        )

    def _scores(self, X: FloatArray) -> FloatArray:
        out = []
        for start in range(0, X.shape[0], self.batch_size):
            chunk = X[start : start + self.batch_size].astype(self.input_dtype)
            chunk = chunk.reshape((chunk.shape[0], *self.input_shape))
            result = self.session.run([self.output], {self.input.name: chunk})[0]
            if isinstance(result, list):  # ZipMap: one {class: probability} per row
                keys = sorted(result[0]) if result else []
                result = [[row[k] for k in keys] for row in result]
            out.append(np.asarray(result, dtype=np.float64))
        if not out:
            return np.zeros((0, self.classes_.size))
        return np.concatenate(out, axis=0)

    def predict_proba(self, X: FloatArray) -> FloatArray:
        X = self.feature_space.validate(X)
        scores = self._scores(X)
        if self.outputs == "logits":
            scores = scores - scores.max(axis=1, keepdims=True)
            e = np.exp(scores)
            return np.asarray(e / e.sum(axis=1, keepdims=True))
        return np.asarray(scores)

    def predict(self, X: FloatArray) -> NDArray[Any]:
        return np.asarray(self.classes_[np.argmax(self.predict_proba(X), axis=1)])


def _are_probabilities(scores: FloatArray) -> bool:
    return bool(
        np.all(scores >= -1e-6)
        and np.all(scores <= 1 + 1e-6)
        and np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)
    )
