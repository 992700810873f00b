"""Wire protocols of other model servers: how a batch is asked for and how answers are read.

Each protocol turns rows into one HTTP request (or one request per row, for single-item
APIs) and a response body into :class:`Answers`. The oracle's ``ForeignHTTPTransport``
carries them; attacks never know which protocol sits under the oracle.

* ``tfserving`` — TensorFlow Serving's REST API: ``POST {url}:predict`` with
  ``{"instances": rows}``; ``{"predictions": [...]}`` back, each a list of class scores
  or an object of named outputs (``probabilities``, ``scores``, ...).
* ``oip`` — the Open Inference Protocol (KServe v2, Triton, MLServer): ``POST {url}/infer``
  with one input tensor (``name``, ``shape``, ``datatype``, row-major ``data``); the output
  tensor of per-class scores back, or a label tensor when that is all the server gives.
  The input's name, type and shape come from the model's metadata (``GET {url}``).
* ``mlflow`` — MLflow's scoring server: ``POST {url}/invocations`` with
  ``{"dataframe_split": {"columns", "data"}}`` (or ``{"inputs": rows}``);
  ``{"predictions": [...]}`` back: probability lists, per-class records, or labels.
* ``template`` — a declared single-item JSON API (:class:`TemplateProtocol`): one row per
  request, encoded into one field (an image as base64 PNG, or the features as a list or an
  object), the label, confidence or probabilities read back at dotted paths.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.typing import NDArray

from modelsteal.catalog import PROTOCOLS
from modelsteal.errors import InvalidInput, Refused
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.answers import Answers, OutputMode
from modelsteal.yaml_files import read_yaml

#: names under which servers commonly return per-class scores
SCORE_NAMES = (
    "probabilities",
    "probability",
    "probs",
    "proba",
    "scores",
    "output_probability",
    "predictions",
)


def bad_response(message: str) -> Refused:
    return Refused(f"the server's answer is not what the protocol promises: {message}", code="bad_response")


def class_index(value: Any, lookup: dict[str, int]) -> int | None:
    """The index of the class named ``value`` (``"1.0"`` from a float-typed column is ``"1"``)."""
    key = str(value)
    if key in lookup:
        return lookup[key]
    if key.endswith(".0") and key[:-2] in lookup:
        return lookup[key[:-2]]
    return None


def _label_indices(values: list[Any], classes: tuple[str, ...]) -> NDArray[np.int64]:
    """Labels as class indices: a class name, or an index when the server answers numbers."""
    lookup = {name: i for i, name in enumerate(classes)}
    out = []
    for v in values:
        index = class_index(v, lookup)
        if (
            index is None
            and isinstance(v, int | float)
            and float(v).is_integer()
            and 0 <= int(v) < len(classes)
        ):
            index = int(v)
        if index is None:
            raise bad_response(f"label {v!r} is none of the classes ({', '.join(classes[:8])})")
        out.append(index)
    return np.asarray(out, dtype=np.int64)


def scores_to_answers(scores: Any, n_rows: int, classes: tuple[str, ...]) -> Answers:
    """Per-class scores (rows × classes) as answers; the label is the top class."""
    try:
        P = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad_response("the scores are not numbers") from None
    if P.ndim != 2 or P.shape != (n_rows, len(classes)):
        raise bad_response(
            f"expected {n_rows} rows of {len(classes)} class scores, got an array of shape {P.shape}"
        )
    if not np.all(np.isfinite(P)):
        raise bad_response("a score is NaN or infinite")
    return Answers(np.argmax(P, axis=1).astype(np.int64), P)


def _predictions(body: Any) -> list[Any]:
    preds = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(preds, list):
        raise bad_response("no 'predictions' list")
    return preds


def _pick_named(pred: dict[str, Any], output: str | None) -> Any:
    if output is not None:
        if output not in pred:
            raise bad_response(f"no output {output!r} (outputs: {', '.join(sorted(pred))})")
        return pred[output]
    for name in SCORE_NAMES:
        if name in pred:
            return pred[name]
    raise bad_response(f"no output of class scores among {', '.join(sorted(pred))}; name one with output")


@dataclass
class Request:
    """One HTTP request: a path appended to the model's URL and a JSON body."""

    path: str
    body: Any
    method: str = "POST"


class WireProtocol(ABC):
    """A batch protocol: ``requests`` for a batch, ``answers`` from the bodies, in order."""

    name: ClassVar[str]
    #: rows per request at most (None: the whole batch in one)
    rows_per_request: ClassVar[int | None] = None

    def __init__(self, *, output: str | None = None) -> None:
        self.output = output

    def metadata_path(self) -> str | None:
        """A path to GET once before the first batch (free: it carries no rows)."""
        return None

    def use_metadata(self, body: Any, space: FeatureSpace) -> None:  # noqa: B027 - optional hook
        """Learn from the metadata (input names, types, shapes); most protocols have none."""

    @abstractmethod
    def request(self, X: NDArray[np.float64], space: FeatureSpace) -> Request:
        """The HTTP request that carries rows ``X``."""

    @abstractmethod
    def answers(self, body: Any, n_rows: int, classes: tuple[str, ...]) -> Answers:
        """The answers in a response body to ``n_rows`` rows."""

    def output_mode(self) -> OutputMode:
        return OutputMode("probabilities")


class TFServingProtocol(WireProtocol):
    """TensorFlow Serving REST, row format (``instances`` → ``predictions``)."""

    name = "tfserving"

    def __init__(self, *, output: str | None = None, signature_name: str | None = None) -> None:
        super().__init__(output=output)
        self.signature_name = signature_name

    def request(self, X: NDArray[np.float64], space: FeatureSpace) -> Request:
        body: dict[str, Any] = {"instances": _rows(X, space)}
        if self.signature_name:
            body["signature_name"] = self.signature_name
        return Request(":predict", body)

    def answers(self, body: Any, n_rows: int, classes: tuple[str, ...]) -> Answers:
        preds = _predictions(body)
        if len(preds) != n_rows:
            raise bad_response(f"{len(preds)} predictions for {n_rows} instances")
        if preds and isinstance(preds[0], dict):
            preds = [_pick_named(p, self.output) for p in preds]
        return scores_to_answers(preds, n_rows, classes)


def _rows(X: NDArray[np.float64], space: FeatureSpace) -> list[Any]:
    """Rows as nested lists; image rows in their published shape (channels first)."""
    if space.image_shape is not None:
        return X.reshape((X.shape[0], *space.image_shape)).tolist()
    return X.tolist()


OIP_TYPES = {"FP64": np.float64, "FP32": np.float32, "FP16": np.float16}


class OpenInferenceProtocol(WireProtocol):
    """The Open Inference Protocol (KServe v2 / Triton / MLServer) over REST."""

    name = "oip"

    def __init__(
        self, *, output: str | None = None, input_name: str | None = None, datatype: str | None = None
    ) -> None:
        super().__init__(output=output)
        self.input_name = input_name
        self.datatype = datatype
        self.shape: list[int] | None = None

    def metadata_path(self) -> str | None:
        return ""

    def use_metadata(self, body: Any, space: FeatureSpace) -> None:
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list) or not inputs or not isinstance(inputs[0], dict):
            return  # servers may publish nothing; the defaults then apply
        first = inputs[0]
        self.input_name = self.input_name or str(first.get("name", "input-0"))
        datatype = str(first.get("datatype", "")).upper()
        if self.datatype is None and datatype in OIP_TYPES:
            self.datatype = datatype
        shape = first.get("shape")
        if isinstance(shape, list) and len(shape) >= 2 and all(isinstance(s, int) for s in shape[1:]):
            dims = [int(s) for s in shape[1:]]
            if all(s > 0 for s in dims) and int(np.prod(dims)) == space.n_features:
                self.shape = dims

    def request(self, X: NDArray[np.float64], space: FeatureSpace) -> Request:
        datatype = self.datatype or "FP64"
        if datatype not in OIP_TYPES:
            raise InvalidInput(f"input datatype {datatype!r} is not one of {', '.join(OIP_TYPES)}")
        dims = self.shape or (list(space.image_shape) if space.image_shape else [space.n_features])
        data = np.asarray(X, dtype=OIP_TYPES[datatype]).ravel().tolist()
        tensor = {
            "name": self.input_name or "input-0",
            "shape": [int(X.shape[0]), *dims],
            "datatype": datatype,
            "data": data,
        }
        return Request("/infer", {"inputs": [tensor]})

    def answers(self, body: Any, n_rows: int, classes: tuple[str, ...]) -> Answers:
        outputs = body.get("outputs") if isinstance(body, dict) else None
        if not isinstance(outputs, list) or not outputs:
            raise bad_response("no 'outputs' list")
        chosen = None
        for out in outputs:
            if not isinstance(out, dict):
                raise bad_response("an output is not an object")
            if self.output is not None and out.get("name") == self.output:
                chosen = out
                break
        if chosen is None and self.output is not None:
            names = ", ".join(str(o.get("name")) for o in outputs)
            raise bad_response(f"no output named {self.output!r} (outputs: {names})")
        if chosen is None:  # the tensor of shape [rows, classes], or a label tensor
            shaped = [o for o in outputs if _shape(o) == [n_rows, len(classes)]]
            named = [o for o in shaped if str(o.get("name", "")).lower() in SCORE_NAMES]
            chosen = (named or shaped or [None])[0]
            if chosen is None:
                labels = [o for o in outputs if _shape(o) in ([n_rows], [n_rows, 1])]
                if labels:
                    return Answers(_label_indices(list(labels[0].get("data") or []), classes))
                raise bad_response(
                    f"no output of shape [{n_rows}, {len(classes)}] (class scores) or [{n_rows}] (labels)"
                )
        data = chosen.get("data")
        if not isinstance(data, list) or len(data) != n_rows * len(classes):
            raise bad_response(f"output {chosen.get('name')!r} holds the wrong number of values")
        return scores_to_answers(np.asarray(data).reshape(n_rows, len(classes)), n_rows, classes)


def _shape(tensor: dict[str, Any]) -> list[int] | None:
    shape = tensor.get("shape")
    return [int(s) for s in shape] if isinstance(shape, list) else None


class MLflowProtocol(WireProtocol):
    """MLflow's scoring server (``/invocations``), pandas split-orient or tensor input."""

    name = "mlflow"

    def __init__(
        self,
        *,
        output: str | None = None,
        input_format: Literal["dataframe_split", "inputs"] = "dataframe_split",
        labels_only: bool = False,
    ) -> None:
        super().__init__(output=output)
        if input_format not in ("dataframe_split", "inputs"):
            raise InvalidInput("the MLflow input format is dataframe_split or inputs")
        self.input_format = input_format
        self.labels_only = labels_only

    def request(self, X: NDArray[np.float64], space: FeatureSpace) -> Request:
        if self.input_format == "inputs":
            return Request("/invocations", {"inputs": _rows(X, space)})
        return Request(
            "/invocations", {"dataframe_split": {"columns": list(space.names), "data": X.tolist()}}
        )

    def output_mode(self) -> OutputMode:
        return OutputMode("label" if self.labels_only else "probabilities")

    def answers(self, body: Any, n_rows: int, classes: tuple[str, ...]) -> Answers:
        preds = _predictions(body)
        if len(preds) != n_rows:
            raise bad_response(f"{len(preds)} predictions for {n_rows} rows")
        if not preds:
            return Answers(np.zeros(0, dtype=np.int64), np.zeros((0, len(classes))))
        first = preds[0]
        if isinstance(first, dict):  # a DataFrame of per-class columns, as records
            if self.output is not None or any(k in first for k in SCORE_NAMES):
                preds = [_pick_named(p, self.output) for p in preds]
            else:
                keys = list(classes) if all(c in first for c in classes) else sorted(first, key=str)
                preds = [[p[k] for k in keys] for p in preds]
            first = preds[0]
        if isinstance(first, list):
            answers = scores_to_answers(preds, n_rows, classes)
            return Answers(answers.labels) if self.labels_only else answers
        if not self.labels_only:
            raise bad_response(
                "the server answers labels, not class probabilities; log the model with "
                "pyfunc_predict_fn='predict_proba', or attack it with a label-only attack (labels_only)"
            )
        return Answers(_label_indices(preds, classes))


# --------------------------------------------------------------------------- templates
Encoding = Literal["png_base64", "features_list", "features_object"]


def _get_path(body: Any, path: str) -> Any:
    """The value at a dotted path (``result.label``, ``probs.0``) of a JSON body."""
    value = body
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise bad_response(f"no value at {path!r}")
    return value


def _set_path(body: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = body
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


@dataclass
class TemplateProtocol(WireProtocol):
    """A single-item JSON API declared in a YAML file, one row per request.

    ``request``: ``path`` (appended to the URL), ``field`` (a dotted path in the body),
    ``encoding`` (``png_base64``: an image row as a grey PNG, pixel 255 for the feature
    space's upper bound; ``features_list``; ``features_object``: ``{name: value}``),
    ``extra`` (constant fields). ``response``: dotted paths to ``label`` (a class name or
    index), and ``confidence`` (the top class's) or ``probabilities`` (a list in class
    order, or an object keyed by class name). ``classes`` lists the class names.
    """

    name: ClassVar[str] = "template"
    rows_per_request: ClassVar[int | None] = 1

    request_field: str = "instances"
    encoding: Encoding = "features_list"
    path: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    label: str | None = None
    confidence: str | None = None
    probabilities: str | None = None
    classes: tuple[str, ...] | None = None
    output: str | None = None

    def __post_init__(self) -> None:
        if self.encoding not in ("png_base64", "features_list", "features_object"):
            raise InvalidInput(
                f"template encoding {self.encoding!r}: choose png_base64, features_list or features_object"
            )
        if self.label is None and self.probabilities is None:
            raise InvalidInput("a template's response needs a label path, a probabilities path, or both")

    @classmethod
    def load(cls, path: str | Path) -> TemplateProtocol:
        return cls.from_dict(read_yaml(path, "template file"), where=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "the template") -> TemplateProtocol:
        if not isinstance(data, dict) or not isinstance(data.get("request"), dict):
            raise InvalidInput(
                f"{where} needs a 'request' mapping (field, encoding) and a 'response' mapping"
            )
        request, response = data["request"], data.get("response") or {}
        if not isinstance(response, dict):
            raise InvalidInput(f"{where}: 'response' must map label/confidence/probabilities to paths")
        known_request = {"field", "encoding", "path", "extra"}
        known_response = {"label", "confidence", "probabilities"}
        unknown = (set(request) - known_request) | (set(response) - known_response)
        unknown |= set(data) - {"request", "response", "classes", "protocol"}
        if unknown:
            raise InvalidInput(f"{where}: unknown keys {', '.join(sorted(map(str, unknown)))}")
        if "field" not in request:
            raise InvalidInput(f"{where}: request.field names the JSON field that carries the input")
        classes = data.get("classes")
        return cls(
            request_field=str(request["field"]),
            encoding=request.get("encoding", "features_list"),
            path=str(request.get("path", "")),
            extra=dict(request.get("extra") or {}),
            label=response.get("label"),
            confidence=response.get("confidence"),
            probabilities=response.get("probabilities"),
            classes=tuple(str(c) for c in classes) if classes else None,
        )

    def output_mode(self) -> OutputMode:
        if self.probabilities is not None:
            return OutputMode("probabilities")
        return OutputMode("confidence" if self.confidence is not None else "label")

    def request(self, X: NDArray[np.float64], space: FeatureSpace) -> Request:
        row = X[0]
        value: Any
        if self.encoding == "png_base64":
            value = encode_png(row, space)
        elif self.encoding == "features_object":
            value = dict(zip(space.names, row.tolist(), strict=True))
        else:
            value = row.tolist()
        body: dict[str, Any] = dict(self.extra)
        _set_path(body, self.request_field, value)
        return Request(self.path, body)

    def answers(self, body: Any, n_rows: int, classes: tuple[str, ...]) -> Answers:
        probabilities = None
        if self.probabilities is not None:
            raw = _get_path(body, self.probabilities)
            if isinstance(raw, dict):
                missing = [c for c in classes if c not in raw]
                if missing:
                    raise bad_response(f"no probability for class {missing[0]!r}")
                raw = [raw[c] for c in classes]
            probabilities = scores_to_answers([raw], 1, classes).probabilities
        if self.label is not None:
            labels = _label_indices([_get_path(body, self.label)], classes)
        else:
            assert probabilities is not None  # __post_init__ holds one of the two
            labels = np.argmax(probabilities, axis=1).astype(np.int64)
        confidences = None
        if self.confidence is not None and probabilities is None:
            try:
                confidences = np.asarray([float(_get_path(body, self.confidence))])
            except (TypeError, ValueError):
                raise bad_response(f"the confidence at {self.confidence!r} is not a number") from None
        return Answers(labels, probabilities, confidences=confidences)


def encode_png(row: NDArray[np.float64], space: FeatureSpace) -> str:
    """An image row as a base64 grey PNG: the feature space's lower bound is black (0),
    its upper bound white (255); 16-bit when 8 bits would lose more than a hundredth."""
    from PIL import Image

    if space.image_shape is None:
        raise InvalidInput("png_base64 encodes image rows; this feature space is not an image")
    shape = space.image_shape
    h, w = shape[-2], shape[-1]
    lo, hi = float(space.lower.min()), float(space.upper.max())
    unit = (np.asarray(row, dtype=np.float64) - lo) / max(hi - lo, 1e-12)
    pixels = np.clip(np.rint(unit * 255.0), 0, 255).astype(np.uint8).reshape(h, w)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def make_protocol(name: str, *, template: str | Path | None = None, **options: Any) -> WireProtocol:
    """The protocol called ``name`` (``template`` needs its file)."""
    if name == "template":
        if template is None:
            raise InvalidInput("`protocol` template needs `template` FILE (request field, response paths)")
        return TemplateProtocol.load(template)
    if template is not None:
        raise InvalidInput("`template` goes with `protocol` template")
    table: dict[str, type[WireProtocol]] = {
        "tfserving": TFServingProtocol,
        "oip": OpenInferenceProtocol,
        "mlflow": MLflowProtocol,
    }
    if name not in table:
        raise InvalidInput(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return table[name](**options)


__all__ = [
    "PROTOCOLS",
    "MLflowProtocol",
    "OpenInferenceProtocol",
    "Request",
    "TFServingProtocol",
    "TemplateProtocol",
    "WireProtocol",
    "make_protocol",
]
