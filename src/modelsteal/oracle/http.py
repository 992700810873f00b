"""Transports to real prediction APIs: ``HTTPTransport`` speaks our protocol,
``ProtocolTransport`` the protocols of other model servers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput, Refused
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.answers import Answers
from modelsteal.oracle.info import ModelInfo
from modelsteal.oracle.protocols import WireProtocol
from modelsteal.oracle.wire import answers_from_json, info_from_json, raise_for_error, rows_to_json
from modelsteal.oracle.work import HEADER as POW_HEADER
from modelsteal.oracle.work import WorkMeter, with_work


def call_json(client: httpx.Client, method: str, url: str, headers: dict[str, str], **kwargs: Any) -> Any:
    """One request; its JSON body (None when it has none). Refusals map to the oracle's
    errors; a timeout or a dead server is ``Refused`` (``timeout``, ``unreachable``)."""
    try:
        response = client.request(method, url, headers=headers, **kwargs)
    except httpx.TimeoutException:
        raise Refused(f"{url} did not answer in time", code="timeout") from None
    except httpx.HTTPError as exc:
        raise Refused(f"cannot reach {url}: {exc}", code="unreachable") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    raise_for_error(response.status_code, body, {k.lower(): v for k, v in response.headers.items()})
    return body


class HTTPTransport:
    """POSTs batches to ``{url}/predict``; ``url`` is a model's address, ``.../v1/models/NAME``.

    Refusals map to the oracle's errors (401/403 → ``Refused``, 429 → ``RateLimited``
    with ``retry_after``); the cost of each batch is what the API reports.
    """

    def __init__(
        self, url: str, api_key: str, *, timeout: float = 60.0, client: httpx.Client | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or "/v1/models/" not in parts.path:
            raise InvalidInput(f"{url!r} is not a model address; use http://HOST:PORT/v1/models/NAME")
        self.url = url.rstrip("/")
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._info: ModelInfo | None = None
        self.work = WorkMeter()

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        return call_json(self._client, method, url, self._headers, **kwargs)

    def describe(self) -> ModelInfo:
        if self._info is None:
            self._info = info_from_json(self._request("GET", self.url))
        return self._info

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]:
        payload = {"instances": rows_to_json(X)}

        def post(proof: str | None) -> Any:
            headers = dict(self._headers) if proof is None else {**self._headers, POW_HEADER: proof}
            return call_json(self._client, "POST", self.url + "/predict", headers, json=payload)

        body = with_work(self.work, post)
        ahead = (body.get("proof_of_work") or {}).get("challenge")
        self.work.ahead = ahead if isinstance(ahead, dict) else None
        answers = answers_from_json(body, self.describe().n_classes)
        cost = float((body.get("usage") or {}).get("cost", 0.0))
        return answers, cost

    def usage(self) -> dict[str, Any]:
        base = self.url.split("/v1/models/")[0]
        result: dict[str, Any] = self._request("GET", base + "/v1/usage")
        return result

    def close(self) -> None:
        if self._owns_client:
            self._client.close()


class ProtocolTransport:
    """POSTs batches to a model server in another protocol (see :mod:`modelsteal.oracle.protocols`).

    Such servers publish neither a feature space nor class names: they come from the
    caller (``--feature-space FILE``, or the ``--eval`` model directory). ``url`` is the
    model's address in that protocol: ``http://HOST:PORT/v1/models/NAME`` (TF Serving),
    ``http://HOST:PORT/v2/models/NAME`` (Open Inference Protocol), ``http://HOST:PORT``
    (MLflow), or the endpoint of a templated API. Errors map as for our own API; a server
    that cannot be reached, times out or answers garbage raises ``Refused``
    (``unreachable``, ``timeout``, ``bad_response``).
    """

    def __init__(
        self,
        url: str,
        protocol: WireProtocol,
        *,
        feature_space: FeatureSpace,
        classes: tuple[str, ...],
        api_key: str | None = None,
        name: str | None = None,
        price_per_query: float = 0.0,
        timeout: float = 60.0,
        client: httpx.Client | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"{url!r} is not an http:// address")
        self.url = url.rstrip("/")
        expected = {"tfserving": "/v1/models/", "oip": "/v2/models/"}.get(protocol.name)
        if expected is not None and expected not in parts.path:
            raise InvalidInput(
                f"{url!r} is not a {protocol.name} model address; use http://HOST:PORT{expected}NAME"
            )
        if protocol.name == "mlflow" and self.url.endswith("/invocations"):
            self.url = self.url[: -len("/invocations")]
        if len(classes) < 2:
            raise InvalidInput(
                "the API's classes are needed (two or more): give them in the feature-space file"
            )
        self.protocol = protocol
        self.price_per_query = float(price_per_query)
        self._client = client or httpx.Client(timeout=timeout)
        self._owns_client = client is None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._metadata_done = protocol.metadata_path() is None
        model_name = name or parts.path.rstrip("/").split("/")[-1] or parts.netloc
        self._info = ModelInfo(
            name=model_name,
            classes=tuple(classes),
            feature_space=feature_space,
            output_mode=protocol.output_mode(),
            price_per_query=self.price_per_query,
        )

    def _call(self, method: str, url: str, body: Any = None) -> Any:
        data = call_json(self._client, method, url, self._headers, json=body)
        if data is None:
            raise Refused(f"{url} answered without a JSON body", code="bad_response")
        return data

    def describe(self) -> ModelInfo:
        return self._info

    def _metadata(self) -> None:
        if self._metadata_done:
            return
        self._metadata_done = True
        path = self.protocol.metadata_path()
        try:
            body = self._call("GET", self.url + (path or ""))
        except (Refused, InvalidInput):
            return  # no metadata: the protocol's defaults apply
        self.protocol.use_metadata(body, self._info.feature_space)

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]:
        self._metadata()
        step = self.protocol.rows_per_request or max(1, X.shape[0])
        parts = []
        for start in range(0, X.shape[0], step):
            chunk = X[start : start + step]
            request = self.protocol.request(chunk, self._info.feature_space)
            body = self._call(request.method, self.url + request.path, request.body)
            parts.append(self.protocol.answers(body, chunk.shape[0], self._info.classes))
        answers = parts[0] if len(parts) == 1 else Answers.concatenate(parts)
        return answers, self.price_per_query * X.shape[0]

    def close(self) -> None:
        if self._owns_client:
            self._client.close()
