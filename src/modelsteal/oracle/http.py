"""``HTTPTransport``: the oracle's transport to a real prediction API speaking our protocol."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput, Refused
from modelsteal.oracle.answers import Answers
from modelsteal.oracle.info import ModelInfo
from modelsteal.oracle.wire import answers_from_json, info_from_json, raise_for_error, rows_to_json


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

    def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, url, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise Refused(f"cannot reach {url}: {exc}", code="unreachable") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        raise_for_error(response.status_code, body, {k.lower(): v for k, v in response.headers.items()})
        return body

    def describe(self) -> ModelInfo:
        if self._info is None:
            self._info = info_from_json(self._request("GET", self.url))
        return self._info

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]:
        body = self._request("POST", self.url + "/predict", json={"instances": rows_to_json(X)})
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
