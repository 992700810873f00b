"""The prediction API's JSON wire format, read by every transport that speaks it."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import BatchTooLarge, InvalidInput, RateLimited, Refused, WorkRequired
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.answers import Answers, OutputMode
from modelsteal.oracle.info import ModelInfo


def rows_to_json(X: NDArray[np.float64]) -> list[Any]:
    """Rows for a request body; a missing feature (NaN, an incomplete query) travels as null."""
    rows: list[Any] = X.tolist()
    if np.isnan(X).any():
        rows = [[None if v != v else v for v in row] for row in rows]
    return rows


def info_from_json(data: dict[str, Any]) -> ModelInfo:
    try:
        return ModelInfo(
            name=str(data["name"]),
            classes=tuple(str(c) for c in data["classes"]),
            feature_space=FeatureSpace.from_dict(data["feature_space"]),
            family=data.get("family"),
            details=dict(data.get("details") or {}),
            output_mode=OutputMode.from_dict(data.get("output_mode") or {}),
            price_per_query=float(data.get("price_per_row", 0.0)),
            accepts_missing=bool(data.get("accepts_missing", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused(
            f"the API's model description is not in the expected form: {exc}", code="bad_response"
        ) from None


def answers_from_json(data: dict[str, Any], n_classes: int) -> Answers:
    preds = data.get("predictions")
    if not isinstance(preds, list):
        raise Refused("the API's answer has no 'predictions' list", code="bad_response")
    labels = np.asarray([p["label_index"] for p in preds], dtype=np.int64)
    probabilities = None
    top_classes = top_probs = confidences = None
    if preds and "probabilities" in preds[0]:
        probabilities = np.asarray([p["probabilities"] for p in preds], dtype=np.float64)
        if probabilities.shape[1] != n_classes:
            raise Refused("the API returned the wrong number of probabilities", code="bad_response")
    if preds and "top_k" in preds[0]:
        top_classes = np.asarray([[t["label_index"] for t in p["top_k"]] for p in preds], dtype=np.int64)
        top_probs = np.asarray([[t["probability"] for t in p["top_k"]] for p in preds], dtype=np.float64)
    if preds and "confidence" in preds[0]:
        confidences = np.asarray([p["confidence"] for p in preds], dtype=np.float64)
    return Answers(labels, probabilities, top_classes, top_probs, confidences)


def raise_for_error(status: int, body: Any, headers: dict[str, str]) -> None:
    """Map a refusal to the oracle's errors: 401/403 Refused, 429/503 RateLimited, 413 with
    ``max_rows`` BatchTooLarge, other 4xx InvalidInput."""
    if status < 400:
        return
    err = body.get("error", {}) if isinstance(body, dict) else {}
    if not isinstance(err, dict):  # other servers: {"error": "text"} (TF Serving, KServe)
        err = {"message": str(err)}
    if isinstance(body, dict) and "message" not in err and isinstance(body.get("message"), str):
        err = {**err, "message": body["message"]}  # MLflow: {"error_code": ..., "message": ...}
    code = str(err.get("code", f"http_{status}"))
    message = str(err.get("message", f"HTTP {status}"))[:500]
    if status in (429, 503):  # 503: a dependency of the server is down; it may come back
        retry = headers.get("retry-after")
        raise RateLimited(f"{code}: {message}", retry_after=float(retry) if retry else None)
    if status == 413 and isinstance(err.get("max_rows"), int) and err["max_rows"] >= 1:
        raise BatchTooLarge(f"{code}: {message}", max_rows=int(err["max_rows"]), code=code)
    if status in (401, 403):
        raise Refused(f"{code}: {message}", code=code, status=status)
    if status == 428 and isinstance(err.get("challenge"), dict):
        raise WorkRequired(f"{code}: {message}", code=code, challenge=err["challenge"])
    if 400 <= status < 500:
        raise InvalidInput(f"the API refused the batch ({code}): {message}")
    raise Refused(f"the API failed ({status} {code}): {message}", code=code, status=status)
