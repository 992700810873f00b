"""The gateway: authentication, input checks, then the request pipeline, in-process or behind HTTP.

auth → input checks → the tier's pipeline (``gateway/pipeline.py``): guards (proof of work,
row limits and quotas) → model → transforms → output mode → observers (detectors and their
actions, the log, the metrics).

The model may be local or on an upstream server (``UpstreamVictim``); when the upstream
fails the request is refused with 502/504 and a stable code, and its rows are given back.

A refused request is logged with its status and stable code and charges nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelsteal.defenses.monitor import AlarmEvent, Monitor
from modelsteal.defenses.transform_base import Transform
from modelsteal.errors import InvalidInput, ModelStealError
from modelsteal.feature_space import RecordError
from modelsteal.gateway.errors import GatewayError, limit_refusal, unknown_tier
from modelsteal.gateway.limiter import RowLimiter
from modelsteal.gateway.metrics import GatewayMetrics
from modelsteal.gateway.pipeline import (
    Call,
    DetectorObserver,
    Guard,
    LogObserver,
    MetricsObserver,
    ModelStage,
    Observer,
    Pipeline,
    ProofOfWorkGuard,
    RowLimitGuard,
    TransformStage,
    View,
    digest_rows,
)
from modelsteal.gateway.policy import Policy, Tier
from modelsteal.gateway.store import Client, LogEntry, Store
from modelsteal.oracle.answers import Answers, OutputMode
from modelsteal.oracle.upstream import UNPUBLISHED
from modelsteal.victims.base import Victim
from modelsteal.victims.model_dir import load_model_dir

__all__ = ["Gateway", "GatewayError", "Prediction", "ServedModel", "digest_rows", "limit_refusal"]


@dataclass
class ServedModel:
    """A model the gateway serves, and what it publishes about it."""

    name: str
    victim: Victim
    class_names: tuple[str, ...]
    card: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {
            "name": self.name,
            # a model behind --upstream publishes a family only when the operator names one
            "family": None if self.victim.family == UNPUBLISHED else self.victim.family,
            "details": self.victim.details,
            "classes": list(self.class_names),
            "feature_space": self.victim.feature_space.to_dict(),
            "dataset": self.card.get("dataset"),
        }


@dataclass(frozen=True)
class Prediction:
    answers: Answers
    rows: int
    cost: float
    tier: Tier
    model: ServedModel
    #: a proof-of-work challenge to solve before the next request (pays the key's credit ahead)
    challenge: dict[str, Any] | None = None


class Gateway:
    """Serves models to API clients under a policy; state lives in ``store`` and ``limiter``."""

    def __init__(
        self,
        models: Sequence[ServedModel],
        *,
        policy: Policy | None = None,
        store: Store,
        limiter: RowLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not models:
            raise ModelStealError("a gateway needs at least one model directory to serve")
        self.models = {m.name: m for m in models}
        if len(self.models) != len(models):
            raise ModelStealError("two served models share a name; rename a model directory")
        self.default_model = models[0].name
        self.policy = policy or Policy()
        self.store = store
        self.limiter = limiter or RowLimiter()
        #: the time detectors see (their windows and periods); tests pass a fixed one
        self.clock = clock
        self.metrics = GatewayMetrics()
        detection = self.policy.detection
        self.monitor: Monitor | None = Monitor(detection) if detection is not None else None
        self.store.record_models({name: m.public() for name, m in self.models.items()})
        self._pipelines: dict[tuple[str, str, bool, bool], Pipeline] = {}
        # transforms that need the model (a surrogate of it, its misinformation twin) bound once
        self.transforms: dict[tuple[str, str], tuple[Transform, ...]] = {
            (tier.name, name): tuple(t.bind(m.victim) for t in tier.transforms)
            for tier in self.policy.tiers.values()
            for name, m in self.models.items()
        }

    @classmethod
    def from_dirs(
        cls,
        dirs: Sequence[str | Path],
        *,
        policy: Policy | None = None,
        db: str | Path = "modelsteal.db",
        redis_url: str | None = None,
        durable: bool = False,
        upstream: Sequence[ServedModel] = (),
    ) -> Gateway:
        """Serve model directories, and ``upstream`` models that live on other servers."""
        served = list(upstream)
        for d in dirs:
            md = load_model_dir(d)
            served.append(
                ServedModel(
                    str(md.card.get("name", Path(d).name)), md.victim, tuple(md.card["classes"]), md.card
                )
            )
        return cls(
            served,
            policy=policy,
            store=Store(db, durable=durable),
            limiter=RowLimiter(redis_url or "memory://"),
        )

    # ------------------------------------------------------------------ auth
    def authenticate(self, key: str | None, *, ip: str = "", endpoint: str = "") -> Client:
        if not key:
            err = GatewayError("missing_key", "send your API key as 'Authorization: Bearer KEY'")
            self.refuse(None, ip, None, endpoint, 0, err)
            raise err
        client = self.store.authenticate(key)
        if client is None:
            err = GatewayError("invalid_key", "this API key is not known; check it or ask for a new one")
            self.refuse(None, ip, None, endpoint, 0, err)
            raise err
        if client.revoked or client.blocked:
            code = "key_revoked" if client.revoked else "key_blocked"
            err = GatewayError(
                code,
                f"this API key is {'revoked' if client.revoked else 'blocked'}; contact the operator",
            )
            self.refuse(client, ip, None, endpoint, 0, err)
            raise err
        if client.tier not in self.policy.tiers:
            err = unknown_tier(client, self.policy)
            self.refuse(client, ip, None, endpoint, 0, err)
            raise err
        return client

    def tier_of(self, client: Client) -> Tier:
        tier = self.policy.tiers.get(client.tier)
        if tier is None:  # never served as another tier: that would hand out its limits and output
            raise unknown_tier(client, self.policy)
        return tier

    def check_keys(self) -> None:
        """Refuse to start when a stored key belongs to a tier the policy lacks."""
        orphans = [c for c in self.store.clients() if c.tier not in self.policy.tiers and not c.revoked]
        if orphans:
            tiers = sorted({c.tier for c in orphans})
            names = ", ".join(c.name for c in orphans[:5]) + (" ..." if len(orphans) > 5 else "")
            raise ModelStealError(
                f"keys {names} have tier(s) {', '.join(tiers)}, which the policy does not define "
                f"(it has: {', '.join(self.policy.tiers)}); add the tier to the policy or revoke the keys"
            )

    def model(self, name: str) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            raise GatewayError("unknown_model", f"no model named {name!r}; GET /v1/models lists them")
        return served

    def accepts_missing(self, served: ServedModel) -> bool:
        """Incomplete queries are answered when the policy allows them and the model can."""
        return self.policy.allow_missing and bool(getattr(served.victim, "supports_missing", False))

    # ------------------------------------------------------------------ predict
    def parse_rows(
        self, served: ServedModel, rows: Any, *, may_hold_bools: bool = True
    ) -> NDArray[np.float64]:
        """Rows from JSON to a checked float array, or a 4xx refusal with a stable code.

        A fast path lets numpy judge the whole batch; only a batch numpy refuses, or one
        whose JSON may hold ``true``/``false`` (numpy would take them for 1 and 0), is
        checked value by value to name the problem.
        """
        space = served.victim.feature_space
        if not isinstance(rows, list):
            raise GatewayError(
                "invalid_request",
                f"'instances' must be a list of rows, each a list of numbers or an object of column "
                f"values; got {type(rows).__name__}",
            )
        if len(rows) == 0:
            raise GatewayError("empty_batch", "send at least one row in 'instances'")
        if len(rows) > self.policy.max_batch_rows:
            raise GatewayError(
                "batch_too_large",
                f"a batch holds at most {self.policy.max_batch_rows} rows; split it",
                max_rows=self.policy.max_batch_rows,
            )
        d = space.n_features
        allow_missing = self.accepts_missing(served)
        if isinstance(rows[0], dict):  # rows as objects of column values (CSV victims)
            try:
                return self._checked_space(served, space.encode_records(rows, allow_missing=allow_missing))
            except RecordError as exc:
                raise GatewayError(exc.code, str(exc)) from None
        X: NDArray[Any] | None = None
        if not may_hold_bools:
            try:
                X = np.array(rows)
            except (ValueError, TypeError):
                X = None
        if X is None or X.ndim != 2 or X.shape[1] != d or X.dtype.kind not in "fiu":
            self._check_values(rows, d, self._missing_refusal(served))
            X = np.asarray(rows, dtype=np.float64)
        return self._checked_space(served, X.astype(np.float64, copy=False))

    def _missing_refusal(self, served: ServedModel) -> str | None:
        """Why a null feature is refused for ``served``, or ``None`` when it is answered."""
        if self.accepts_missing(served):
            return None
        d = served.victim.feature_space.n_features
        if self.policy.allow_missing:
            return (
                f"this {served.victim.family} model does not answer incomplete queries (only decision "
                f"trees do); send all {d} features"
            )
        return f"this server does not answer incomplete queries (its policy sets allow_missing: false); send all {d} features"

    def _checked_space(self, served: ServedModel, X: NDArray[np.float64]) -> NDArray[np.float64]:
        space = served.victim.feature_space
        allow_missing = self.accepts_missing(served)
        if not np.all(np.isfinite(X)):
            if not allow_missing or np.isinf(X).any():
                raise GatewayError("not_finite", "a feature is NaN or infinite; send finite numbers")
            try:
                space.validate(X, allow_missing=True)  # a one-hot group is missing whole or not at all
            except InvalidInput as exc:
                raise GatewayError("partly_missing_category", str(exc)) from None
        inside = space.contains(X)
        if not inside.all():
            if self.policy.out_of_space == "clip" and not space.categorical:
                X = space.clip(X)
            else:
                bad = int(np.flatnonzero(~inside)[0])
                raise GatewayError(
                    "out_of_space",
                    f"row {bad} lies outside the published feature space (GET /v1/models/{served.name})",
                )
        return X

    @staticmethod
    def _check_values(rows: list[Any], d: int, missing_refusal: str | None = None) -> None:
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != d:
                got = f"{len(row)} features" if isinstance(row, list) else f"a {type(row).__name__}"
                raise GatewayError(
                    "wrong_feature_count", f"row {i} is {got}; the model takes a list of {d} numbers"
                )
            for value in row:
                if value is None:
                    if missing_refusal is None:
                        continue
                    raise GatewayError("missing_feature", f"row {i} has a missing feature: {missing_refusal}")
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise GatewayError("not_numeric", f"row {i} holds {value!r}; features are numbers")

    def predict(
        self,
        client: Client,
        model_name: str,
        rows: Any,
        *,
        ip: str,
        endpoint: str = "predict",
        may_hold_bools: bool = True,
        proof: str | None = None,
    ) -> Prediction:
        start = time.perf_counter()
        n_asked = len(rows) if isinstance(rows, list) else 0
        try:
            served = self.model(model_name)
            X = self.parse_rows(served, rows, may_hold_bools=may_hold_bools)
        except GatewayError as err:
            self.refuse(client, ip, model_name, endpoint, n_asked, err)
            raise
        return self.predict_array(client, served, X, ip=ip, endpoint=endpoint, start=start, proof=proof)

    def predict_array(
        self,
        client: Client,
        served: ServedModel,
        X: NDArray[np.float64],
        *,
        ip: str,
        endpoint: str = "predict",
        start: float | None = None,
        proof: str | None = None,
    ) -> Prediction:
        tier = self.tier_of(client)
        call = Call(
            client=client,
            served=served,
            X=X,
            ip=ip,
            endpoint=endpoint,
            proof=proof,
            start=time.perf_counter() if start is None else start,
        )
        detection = self.policy.detection
        throttled = detection is not None and client.throttled
        degraded = detection is not None and client.degraded
        cost = self.pipeline(tier, served, throttled=throttled, degraded=degraded).run(self, call)
        assert call.answers is not None
        return Prediction(call.answers, call.rows, cost, tier, served, call.next_challenge)

    def pipeline(self, tier: Tier, served: ServedModel, *, throttled: bool, degraded: bool) -> Pipeline:
        """The stages a call of ``tier`` to ``served`` passes, for a client in this state (cached)."""
        key = (tier.name, served.name, throttled, degraded)
        built = self._pipelines.get(key)
        if built is not None:
            return built
        detection = self.policy.detection
        output = tier.output
        if degraded and detection is not None:
            output = OutputMode(detection.degrade_output)  # type: ignore[arg-type]
        guards: list[Guard] = []
        if tier.proof_of_work is not None:
            guards.append(ProofOfWorkGuard(tier.proof_of_work))
        throttle = detection.throttle_limits if throttled and detection is not None else ()
        guards.append(RowLimitGuard(tier.key_limits, tier.ip_limits, throttle))
        transforms = tuple(TransformStage(t) for t in self.transforms[(tier.name, served.name)])
        observers: list[Observer] = [DetectorObserver()] if self.monitor is not None else []
        observers += [LogObserver(self.policy.store_inputs), MetricsObserver()]
        needs_proba = bool(transforms) or self.monitor is not None or self.policy.store_inputs
        built = Pipeline(
            guards=tuple(guards),
            model=ModelStage(needs_proba, output),
            transforms=transforms,
            view=View(output),
            observers=tuple(observers),
            price_per_row=tier.price_per_row,
        )
        self._pipelines[key] = built
        return built

    ACTION_FLAGS: ClassVar[dict[str, tuple[str, ...]]] = {
        "log": (),
        "flag": ("flagged",),
        "throttle": ("flagged", "throttled"),
        "degrade": ("flagged", "degraded"),
        "block": ("flagged", "blocked"),
    }

    def act(self, events: list[AlarmEvent], client: Client, n: int) -> tuple[dict[str, Any], ...]:
        """Record each alarm for every client it names and apply the policy's action to them."""
        out = []
        for event in events:
            alarm = event.alarm.to_dict()
            for member in event.members:
                rows = client.rows + n if member == client.name else self.store.client(member).rows
                self.store.record_alarm(member, event.stream, event.model, alarm, rows, event.action)
                for flag in self.ACTION_FLAGS[event.action]:
                    self.store.set_flag(member, flag, True)
            out.append(
                {**alarm, "stream": event.stream, "action": event.action, "members": list(event.members)}
            )
        return tuple(out)

    def clear(self, name: str) -> Client:
        """An operator's all-clear: lift every detection action and forget the client's streams."""
        for flag in ("flagged", "throttled", "degraded", "blocked"):
            self.store.set_flag(name, flag, False)
        if self.monitor is not None:
            self.monitor.reset(name)
        return self.store.client(name)

    def refuse(
        self, client: Client | None, ip: str, model: str | None, endpoint: str, rows: int, err: GatewayError
    ) -> None:
        """Log a refused request (charging nothing) and count it in the metrics."""
        self.store.record(LogEntry(client, ip, model, endpoint, rows, 0, 0.0, err.status, err.code, None))
        self.metrics.refusal(endpoint, err.status, err.code)

    # ------------------------------------------------------------------ wire format
    @staticmethod
    def answer_json(served: ServedModel, answers: Answers) -> dict[str, Any]:
        names = served.class_names
        preds: list[dict[str, Any]] = []
        for i in range(len(answers)):
            item: dict[str, Any] = {
                "label": names[int(answers.labels[i])],
                "label_index": int(answers.labels[i]),
            }
            if answers.probabilities is not None:
                item["probabilities"] = answers.probabilities[i].tolist()
            if answers.top_k_classes is not None and answers.top_k_probabilities is not None:
                item["top_k"] = [
                    {"label": names[int(c)], "label_index": int(c), "probability": float(p)}
                    for c, p in zip(answers.top_k_classes[i], answers.top_k_probabilities[i], strict=True)
                ]
            if answers.confidences is not None:
                item["confidence"] = float(answers.confidences[i])
            preds.append(item)
        return {"model": served.name, "predictions": preds}

    def usage(self, client: Client) -> dict[str, Any]:
        fresh = self.store.client(client.name)
        tier = self.tier_of(fresh)
        remaining = {lim: self.limiter.remaining(lim, "key", str(fresh.id)) for lim in tier.key_limits}
        return {
            "client": fresh.name,
            "tier": tier.name,
            "requests": fresh.requests,
            "rows": fresh.rows,
            "spent": round(fresh.spent, 10),
            "price_per_row": tier.price_per_row,
            "remaining": remaining,
            "output_mode": tier.output.to_dict(),
        }
