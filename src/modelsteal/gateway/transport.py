"""``GatewayTransport``: an oracle's transport into a gateway in the same process.

Every guard, limit, price and log of the gateway applies; no socket is opened.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import Refused
from modelsteal.gateway.service import Gateway, GatewayError
from modelsteal.gateway.store import Client
from modelsteal.oracle.answers import Answers
from modelsteal.oracle.info import ModelInfo
from modelsteal.oracle.wire import raise_for_error, rows_to_json
from modelsteal.oracle.work import WorkMeter, with_work


class GatewayTransport:
    def __init__(self, gateway: Gateway, api_key: str, model: str, *, ip: str = "127.0.0.1") -> None:
        self.gateway = gateway
        self.api_key = api_key
        self.model = model
        self.ip = ip
        self.work = WorkMeter()

    def _client(self) -> Client:
        try:
            return self.gateway.authenticate(self.api_key, ip=self.ip, endpoint="predict")
        except GatewayError as err:
            raise Refused(f"{err.code}: {err.message}", code=err.code, status=err.status) from None

    def describe(self) -> ModelInfo:
        client = self._client()
        served = self.gateway.model(self.model)
        tier = self.gateway.tier_of(client)
        return ModelInfo(
            name=served.name,
            classes=served.class_names,
            feature_space=served.victim.feature_space,
            family=served.victim.family,
            details=dict(served.victim.details),
            output_mode=tier.output,
            price_per_query=tier.price_per_row,
            accepts_missing=self.gateway.accepts_missing(served),
        )

    def send(self, X: NDArray[np.float64]) -> tuple[Answers, float]:
        def ask(proof: str | None) -> tuple[Answers, float]:
            try:
                result = self.gateway.predict(
                    self._client(), self.model, rows_to_json(X), ip=self.ip, may_hold_bools=False, proof=proof
                )
            except GatewayError as err:  # the same mapping to the oracle's errors as over HTTP
                raise_for_error(
                    err.status,
                    err.body(),
                    {} if err.retry_after is None else {"retry-after": str(err.retry_after)},
                )
                raise  # pragma: no cover - raise_for_error raises for every refusal status
            self.work.ahead = result.challenge
            return result.answers, result.cost

        return with_work(self.work, ask)

    def usage(self) -> dict[str, Any]:
        """The key's usage, as ``GET /v1/usage`` answers it over HTTP."""
        return self.gateway.usage(self._client())

    def close(self) -> None:
        return None
