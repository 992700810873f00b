"""A model that lives on another server: the gateway in front of an operator's own model server.

``UpstreamVictim`` answers ``predict_proba`` by asking the upstream server in its own
protocol (ours, TF Serving, the Open Inference Protocol, MLflow, or a template). The
gateway then puts keys, quotas, prices, output modes, detectors and the query log in
front of it, exactly as in front of a local model. When the upstream fails, the victim
raises :class:`UpstreamError`, which the gateway answers with 502 (unreachable, refused,
garbage) or 504 (timeout) and a stable code, charging nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import APIRefusal, InvalidInput, RateLimited, Refused
from modelsteal.feature_space import FeatureSpace
from modelsteal.oracle.http import HTTPTransport, ProtocolTransport
from modelsteal.oracle.protocols import make_protocol

#: how the transport's failure codes read at the gateway: (HTTP status, stable code)
UPSTREAM_FAILURES: dict[str, str] = {
    "timeout": "upstream_timeout",
    "unreachable": "upstream_unavailable",
    "bad_response": "upstream_bad_response",
}
#: the family of an upstream model whose operator publishes none
UNPUBLISHED = "unpublished"
#: the most a probability row may miss 1 by before the upstream's answer counts as garbage
SUM_TOLERANCE = 1e-3


class UpstreamError(APIRefusal):
    """The upstream model server failed; ``code`` is what the gateway answers."""


class UpstreamVictim:
    """A victim whose probabilities come from ``url`` in ``protocol``.

    ``family`` is what the operator chooses to publish about the model (nothing by
    default). ``timeout`` bounds each upstream request, in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        protocol: str,
        feature_space: FeatureSpace,
        classes: tuple[str, ...],
        template: str | None = None,
        api_key: str | None = None,
        family: str | None = None,
        timeout: float = 10.0,
        client: Any = None,
    ) -> None:
        if timeout <= 0:
            raise InvalidInput("--upstream-timeout must be a positive number of seconds")
        self.url = url
        self.protocol = protocol
        self.feature_space = feature_space
        self.class_names = tuple(classes)
        self.classes_ = np.arange(len(classes))
        self.family: str = family or UNPUBLISHED
        self.details: dict[str, Any] = {"upstream_protocol": protocol}
        self.transport: Any
        if protocol == "modelsteal":
            if not api_key:
                raise InvalidInput("an upstream modelsteal gateway needs --upstream-api-key")
            self.transport = HTTPTransport(url, api_key, timeout=timeout, client=client)
        else:
            wire = make_protocol(protocol, template=template)
            if wire.output_mode().kind != "probabilities":
                raise InvalidInput(
                    f"the upstream {protocol} API gives {wire.output_mode().describe()}; the gateway needs "
                    "class probabilities from it to serve every output mode and run the detectors"
                )
            self.transport = ProtocolTransport(
                url,
                wire,
                feature_space=feature_space,
                classes=self.class_names,
                api_key=api_key,
                timeout=timeout,
                client=client,
            )

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        try:
            answers, _ = self.transport.send(np.asarray(X, dtype=np.float64))
        except RateLimited as exc:
            raise UpstreamError("upstream_busy", f"the upstream server is busy: {exc}") from None
        except Refused as exc:
            code = UPSTREAM_FAILURES.get(exc.code, "upstream_error")
            raise UpstreamError(code, f"the upstream model server failed: {exc}") from None
        except InvalidInput as exc:
            raise UpstreamError(
                "upstream_refused", f"the upstream model server refused the rows: {exc}"
            ) from None
        P = answers.probabilities
        if P is None:
            raise UpstreamError("upstream_bad_response", "the upstream answered no probabilities")
        if P.shape != (X.shape[0], len(self.class_names)) or not np.all(np.isfinite(P)) or P.min() < 0:
            raise UpstreamError(
                "upstream_bad_response", "the upstream's probabilities have the wrong shape or values"
            )
        if np.abs(P.sum(axis=1) - 1.0).max() > SUM_TOLERANCE:
            raise UpstreamError(
                "upstream_bad_response",
                "the upstream's scores do not sum to 1: serve probabilities, not logits",
            )
        return np.asarray(P, dtype=np.float64)

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.int64]:
        return np.asarray(np.argmax(self.predict_proba(X), axis=1), dtype=np.int64)

    def close(self) -> None:
        self.transport.close()
