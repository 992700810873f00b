"""The HTTP face of a :class:`Gateway`: an app factory, no import-time singletons.

Every error is a JSON body ``{"error": {"code": ..., "message": ...}}`` with a stable
code; domain errors map to HTTP statuses here and nowhere else. Bodies are parsed by
hand (not by pydantic) so each bad input gets its own code; the OpenAPI schema still
documents them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import json
import sqlite3
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelsteal.errors import InvalidInput, codes_for
from modelsteal.gateway.limiter import LimiterUnavailable
from modelsteal.gateway.service import Gateway, GatewayError
from modelsteal.gateway.store import hash_key
from modelsteal.oracle.work import HEADER as POW_HEADER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "retry_after": {"type": "number"},
                "max_rows": {"type": "integer", "description": "the most rows one request may hold"},
                "challenge": {
                    "type": "object",
                    "description": "428: for each of `parts` seeds (`seed` itself when parts is 1, else "
                    "`seed.0`, `seed.1`, ...) find a nonce such that SHA-256(seed + nonce as 8 "
                    "little-endian bytes) starts with `part_bits` zero bits; resend with the header "
                    "X-Proof-Of-Work: <id>:<nonce>[,<nonce>...] before `expires` (Unix seconds). The "
                    "solution adds `hashes` to the key's credit, which pays for batches; every answer "
                    "carries the next challenge in `proof_of_work.challenge`, to solve ahead",
                    "properties": {
                        "id": {"type": "string"},
                        "seed": {"type": "string"},
                        "bits": {"type": "number"},
                        "parts": {"type": "integer"},
                        "part_bits": {"type": "integer"},
                        "hashes": {"type": "integer"},
                        "expires": {"type": "integer"},
                    },
                },
            },
            "required": ["code", "message"],
        }
    },
}
_MEANING = {
    400: "malformed JSON or HTTP",
    401: "no or unknown API key",
    403: "key revoked or blocked, or its tier is not in the policy",
    404: "no such model, client or path",
    405: "method not allowed",
    413: "batch or body too large; a batch larger than a rate limit can never fit (batch_exceeds_limit): "
    "the body's error.max_rows says how many rows one request may hold",
    422: "bad rows: wrong feature count, not numeric, not finite, outside the feature space",
    428: "proof of work required, invalid, expired or replayed: error.challenge holds the puzzle to solve",
    429: "rate limit or quota; see Retry-After",
    500: "a bug, never a bad input",
    502: "the upstream model server (serve --upstream) failed; nothing was charged",
    503: "a dependency of the server (rate-limit storage, query log, upstream) is down; nothing was charged",
    504: "the upstream model server did not answer in time; nothing was charged",
}
#: the schema's error responses, each listing its stable codes from the one table in errors.py
ERRORS: dict[int | str, dict[str, Any]] = {
    str(status): {
        "description": f"{meaning}. error.code is one of: {', '.join(codes_for(status))}",
        "content": {"application/json": {"schema": ERROR_SCHEMA}},
    }
    for status, meaning in _MEANING.items()
}
PREDICT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["instances"],
                "properties": {
                    "instances": {
                        "type": "array",
                        "items": {
                            "oneOf": [
                                {
                                    "type": "array",
                                    "items": {"type": ["number", "null"]},
                                    "description": "a row of the published feature space (after one-hot encoding)",
                                },
                                {
                                    "type": "object",
                                    "additionalProperties": {"type": ["number", "string", "null"]},
                                    "description": "a row as the original columns: numbers, and text values "
                                    "of categorical features, which the server one-hot encodes with the "
                                    'levels it publishes (e.g. {"age": 30, "city": "Boston"})',
                                },
                            ]
                        },
                        "description": "one row is one query; null marks a missing feature where the model "
                        "answers incomplete queries",
                    }
                },
            }
        }
    },
}
SINGLE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "image_base64": {
                        "type": "string",
                        "description": "an image in base64 (PNG, JPEG, GIF, BMP, WebP; any size and colour "
                        "mode): converted to grey levels and resized to the model's image size with "
                        "bilinear resampling, unless the policy sets image_input: refuse, which takes only "
                        "images of exactly that size",
                    },
                    "features": {"type": "array", "items": {"type": "number"}},
                },
            }
        }
    },
}


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, whether or not they declare a length."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = GatewayError("body_too_large", f"request bodies are limited to {self.limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await JSONResponse(too_big.body(), status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await JSONResponse(too_big.body(), status_code=413)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _key_from(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("x-api-key") or None


def _ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def _json_body(request: Request) -> Any:
    return _parse_json(await request.body())


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise GatewayError("malformed_json", "the body is not valid JSON") from None


def create_app(gateway: Gateway, *, admin_key: str | None = None) -> FastAPI:
    """A FastAPI app serving ``gateway``; admin endpoints need ``admin_key``."""
    app = FastAPI(
        title="modelsteal gateway",
        version="1",
        description="A prediction API with keys, rate limits and quotas counted in rows, prices, output modes and a query log.",
    )
    _answer_errors_as_json(app)
    app.include_router(_client_routes(gateway))
    app.include_router(_admin_routes(gateway, hash_key(admin_key) if admin_key else None))
    app.state.gateway = gateway
    app.state.started = time.time()
    app.add_middleware(BodyLimit, limit=gateway.policy.max_body_bytes)
    return app


def _answer_errors_as_json(app: FastAPI) -> None:
    """Every error, ours or the framework's, as one JSON body with a stable code: never a bare 500."""

    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after is not None else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        err = GatewayError(
            "invalid_request", "; ".join(str(e.get("msg")) for e in exc.errors()) or "invalid request"
        )
        return JSONResponse(err.body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        body = (
            GatewayError(code, str(exc.detail)).body()
            if code is not None  # a status Starlette raises that no refusal of ours names
            else {"error": {"code": "http_error", "message": str(exc.detail)}}
        )
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(LimiterUnavailable)
    async def _limiter_down(request: Request, exc: LimiterUnavailable) -> JSONResponse:
        err = GatewayError("limiter_unavailable", f"{exc}; retry later")
        return JSONResponse(err.body(), status_code=err.status, headers={"Retry-After": "5"})

    @app.exception_handler(sqlite3.Error)
    async def _store_down(request: Request, exc: sqlite3.Error) -> JSONResponse:
        err = GatewayError("store_unavailable", f"the query log cannot be written ({exc}); retry later")
        return JSONResponse(err.body(), status_code=err.status, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - a bug
        err = GatewayError("internal", "internal error")
        return JSONResponse(err.body(), status_code=err.status)


def _client_of(gateway: Gateway, request: Request, endpoint: str) -> Any:
    return gateway.authenticate(_key_from(request), ip=_ip(request), endpoint=endpoint)


def _client_routes(gateway: Gateway) -> APIRouter:
    """What a key holder may ask: models, predictions, its usage; and liveness and metrics."""
    router = APIRouter()

    @router.get("/healthz", summary="Liveness")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "models": list(gateway.models)}

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(gateway.metrics.render(), media_type="text/plain; version=0.0.4")

    @router.get("/v1/models", summary="Models served, with what they publish", responses=ERRORS)
    def list_models(request: Request) -> dict[str, Any]:
        _client_of(gateway, request, "models")
        return {"models": [m.public() for m in gateway.models.values()]}

    @router.get(
        "/v1/models/{name}",
        summary="One model: classes, feature space, family; your output mode and price",
        responses=ERRORS,
    )
    def describe_model(name: str, request: Request) -> dict[str, Any]:
        tier = gateway.tier_of(_client_of(gateway, request, "models"))
        out = gateway.model(name).public()
        out["output_mode"] = tier.output.to_dict()
        out["price_per_row"] = tier.price_per_row
        out["accepts_missing"] = gateway.accepts_missing(gateway.model(name))
        return out

    @router.post(
        "/v1/models/{name}/predict",
        summary="Predict a batch; one row is one query",
        responses=ERRORS,
        openapi_extra={"requestBody": PREDICT_BODY},
    )
    async def predict(name: str, request: Request) -> JSONResponse:
        return await _predict(gateway, name, request)

    @router.post(
        "/predict",
        summary="Single item, as image APIs take it: a PNG in base64, or a feature vector",
        responses=ERRORS,
        openapi_extra={"requestBody": SINGLE_BODY},
    )
    async def predict_one(request: Request, model: str | None = None) -> dict[str, Any]:
        return await _predict_one(gateway, request, model)

    @router.get("/v1/usage", summary="Your queries, remaining quota and money spent", responses=ERRORS)
    def usage(request: Request) -> dict[str, Any]:
        return gateway.usage(_client_of(gateway, request, "usage"))

    return router


async def _predict(gateway: Gateway, name: str, request: Request) -> JSONResponse:
    client = _client_of(gateway, request, "predict")
    raw = await request.body()
    try:
        body = _parse_json(raw)
        if not isinstance(body, dict) or "instances" not in body:
            raise GatewayError("invalid_request", 'send {"instances": [[...], ...]}')
    except GatewayError as err:
        gateway.refuse(client, _ip(request), name, "predict", 0, err)
        raise
    # Without JSON booleans in the body numpy can judge the whole batch at once.
    may_hold_bools = b"true" in raw or b"false" in raw
    result = gateway.predict(
        client,
        name,
        body["instances"],
        ip=_ip(request),
        may_hold_bools=may_hold_bools,
        proof=request.headers.get(POW_HEADER),
    )
    out = gateway.answer_json(result.model, result.answers)
    out["usage"] = {"rows": result.rows, "cost": result.cost, "price_per_row": result.tier.price_per_row}
    if result.challenge is not None:
        out["proof_of_work"] = {"challenge": result.challenge}
    return JSONResponse(out)  # plain floats: FastAPI's jsonable_encoder adds nothing


async def _predict_one(gateway: Gateway, request: Request, model: str | None) -> dict[str, Any]:
    client = _client_of(gateway, request, "predict_one")
    name = model or gateway.default_model
    try:
        served = gateway.model(name)
        body = await _json_body(request)
        row = _single_row(body, served.victim.feature_space, gateway.policy.image_input)
    except GatewayError as err:
        gateway.refuse(client, _ip(request), name, "predict_one", 0, err)
        raise
    result = gateway.predict(
        client, name, [row], ip=_ip(request), endpoint="predict_one", proof=request.headers.get(POW_HEADER)
    )
    answers = result.answers
    label = int(answers.labels[0])
    confidence = None
    if answers.probabilities is not None:
        confidence = float(answers.probabilities[0, label])
    elif answers.top_k_probabilities is not None:
        confidence = float(answers.top_k_probabilities[0, 0])
    out: dict[str, Any] = {"class": served.class_names[label], "confidence": confidence}
    if result.challenge is not None:
        out["proof_of_work"] = {"challenge": result.challenge}
    return out


def _admin_routes(gateway: Gateway, admin_hash: str | None) -> APIRouter:
    """The operator's endpoints, each behind the admin key (one dependency for all of them)."""

    def require_admin(request: Request) -> None:
        key = _key_from(request)
        if admin_hash is None:
            raise GatewayError("admin_disabled", "start the server with --admin-key to use admin endpoints")
        if key is None or not hmac.compare_digest(hash_key(key), admin_hash):
            raise GatewayError("invalid_admin_key", "admin endpoints need 'Authorization: Bearer ADMIN_KEY'")

    router = APIRouter(dependencies=[Depends(require_admin)])

    @router.get("/v1/admin/clients", summary="Clients with their usage (admin)", responses=ERRORS)
    def admin_clients() -> dict[str, Any]:
        return {"clients": [c.to_dict() for c in gateway.store.clients()]}

    @router.post("/v1/admin/clients/{name}/revoke", summary="Revoke a key (admin)", responses=ERRORS)
    def admin_revoke(name: str) -> dict[str, Any]:
        return _admin_flag(gateway, name, "revoked", True)

    @router.post("/v1/admin/clients/{name}/block", summary="Block a client (admin)", responses=ERRORS)
    def admin_block(name: str) -> dict[str, Any]:
        return _admin_flag(gateway, name, "blocked", True)

    @router.post("/v1/admin/clients/{name}/unblock", summary="Unblock a client (admin)", responses=ERRORS)
    def admin_unblock(name: str) -> dict[str, Any]:
        return _admin_flag(gateway, name, "blocked", False)

    @router.get(
        "/v1/admin/flagged", summary="Clients detectors flagged, with their alarms (admin)", responses=ERRORS
    )
    def admin_flagged() -> dict[str, Any]:
        acted = [c for c in gateway.store.clients() if c.flagged or c.throttled or c.degraded or c.blocked]
        return {"clients": [{**c.to_dict(), "alarms": gateway.store.alarms(c.name)} for c in acted]}

    @router.get(
        "/v1/admin/clients/{name}/detectors",
        summary="A client's detector scores and memory (admin)",
        responses=ERRORS,
    )
    def admin_detectors(name: str) -> dict[str, Any]:
        client = _known_client(lambda: gateway.store.client(name).to_dict())
        streams = gateway.monitor.report(name) if gateway.monitor is not None else []
        return {"client": client, "streams": streams, "alarms": gateway.store.alarms(name)}

    @router.post(
        "/v1/admin/clients/{name}/clear",
        summary="Lift detection actions (flag, throttle, degrade, block) from a client (admin)",
        responses=ERRORS,
    )
    def admin_clear(name: str) -> dict[str, Any]:
        return _known_client(lambda: gateway.clear(name).to_dict())

    return router


def _known_client(look: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``look()``, or a 404 ``unknown_client`` when the name is not a client's."""
    try:
        return look()
    except InvalidInput as exc:
        raise GatewayError("unknown_client", str(exc)) from None


def _admin_flag(gateway: Gateway, name: str, flag: str, value: bool) -> dict[str, Any]:
    try:
        return gateway.store.set_flag(name, flag, value).to_dict()
    except Exception as exc:  # unknown client
        raise GatewayError("unknown_client", str(exc)) from None


def _grey(img: Any) -> Any:
    """Grey levels; transparent pixels count as the background (black, no ink)."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        from PIL import Image

        backdrop = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(backdrop, img)
    return img.convert("L")


def _single_row(body: Any, space: Any, image_input: str = "resize") -> list[float]:
    if not isinstance(body, dict):
        raise GatewayError("invalid_request", 'send {"image_base64": "<PNG>"} or {"features": [...]}')
    if "features" in body:
        features = body["features"]
        if not isinstance(features, list):
            raise GatewayError("invalid_request", "'features' must be a list of numbers")
        return features
    if "image_base64" not in body:
        raise GatewayError("invalid_request", 'send {"image_base64": "<PNG>"} or {"features": [...]}')
    if space.image_shape is None:
        raise GatewayError(
            "not_an_image_model", 'this model takes tabular features; send {"features": [...]}'
        )
    data = body["image_base64"]
    if not isinstance(data, str):
        raise GatewayError("invalid_base64", "'image_base64' must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise GatewayError("invalid_base64", "'image_base64' is not valid base64") from None
    from PIL import Image, UnidentifiedImageError

    height, width = space.image_shape
    try:
        with Image.open(io.BytesIO(raw)) as img:
            img.load()
            if img.size != (width, height):
                if image_input == "refuse":
                    raise GatewayError(
                        "image_size",
                        f"the model takes {width}x{height} images; got {img.size[0]}x{img.size[1]} "
                        "(this server's policy refuses other sizes)",
                    )
                grey = _grey(img).resize((width, height), Image.Resampling.BILINEAR)
            else:
                grey = _grey(img)
            pixels = np.asarray(grey, dtype=np.float64)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise GatewayError(
            "invalid_image", "'image_base64' does not hold an image (PNG, JPEG, GIF, BMP or WebP)"
        ) from None
    scaled = space.lower + pixels.reshape(-1) / 255.0 * (space.upper - space.lower)
    return [float(v) for v in scaled]
