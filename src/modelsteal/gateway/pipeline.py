"""The gateway's request pipeline: guards → model → transforms → view → observers.

Every predict request is a :class:`Call` passed through one :class:`Pipeline`, assembled
per tier, served model and client state (throttled, degraded) from the policy, in the
order the policy writes:

* **guards** admit the request or refuse it with a :class:`GatewayError` (proof of work,
  then the row limits); a guard that took something (rows) gives it back when a later
  stage fails;
* the **model** answers with its probabilities (or, when nothing downstream needs them,
  straight in the output mode);
* **transforms** change what the client sees (``defenses/transforms.py``), bound to the
  served model once;
* the **view** is the output mode: probabilities, top-k, label, rounding — a degraded
  client's pipeline simply holds the degraded view;
* **observers** see the model's own probabilities after the answer is made: the
  detectors and their actions, the log, the metrics.

Adding a defence is one stage class and one line where pipelines are assembled
(:meth:`Gateway.pipeline`).
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.defenses.proof_of_work import ProofOfWork, ProofRefused
from modelsteal.defenses.transform_base import Transform
from modelsteal.gateway.errors import GatewayError, limit_refusal
from modelsteal.gateway.limiter import LimiterUnavailable
from modelsteal.gateway.store import Client, LogEntry
from modelsteal.oracle.answers import Answers, OutputMode, apply_output_mode, victim_answers
from modelsteal.oracle.upstream import UpstreamError
from modelsteal.oracle.work import HEADER as POW_HEADER

if TYPE_CHECKING:
    from modelsteal.gateway.service import Gateway, ServedModel

FloatArray = NDArray[np.float64]


def digest_rows(X: FloatArray) -> str:
    return hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes()).hexdigest()


@dataclass
class Call:
    """One predict request on its way through a pipeline."""

    client: Client
    served: ServedModel
    X: FloatArray
    ip: str
    endpoint: str
    proof: str | None
    start: float
    #: row-limit checks a guard acquired (given back when a later stage fails)
    checks: list[tuple[str, str, str]] = field(default_factory=list)
    #: the model's own probabilities (``None`` when nothing needed them)
    proba: FloatArray | None = None
    confidence: FloatArray | None = None
    #: what the client will see, before the view
    shown: FloatArray | None = None
    answers: Answers | None = None
    alarms: tuple[dict[str, Any], ...] = ()
    #: what the proof-of-work guard took from the key's credit, and the challenge for its next request
    work_price: float = 0.0
    work_uncertain: int = 0
    next_challenge: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        return int(self.X.shape[0])

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the rows: what a proof of work is bound to and the log records."""
        return digest_rows(self.X)


# --------------------------------------------------------------------------- guards
class Guard(ABC):
    """Admits a call or raises :class:`GatewayError`."""

    @abstractmethod
    def check(self, gateway: Gateway, call: Call) -> None: ...

    def undo(self, gateway: Gateway, call: Call) -> None:
        """Give back what :meth:`check` took; a later stage refused the call."""
        return None


class ProofOfWorkGuard(Guard):
    """HashCash work paid ahead into a per-key credit, priced by the client's leakage
    (``defenses/proof_of_work.py``)."""

    def __init__(self, work: ProofOfWork) -> None:
        self.work = work

    def price(self, call: Call) -> tuple[float, int]:
        """Expected hashes this batch costs the client as it stands now, and how many of its
        rows the model doubts."""
        work, client = self.work, call.client
        uncertain = 0
        if work.uncertain_bits:  # the model's doubt prices the rows; the model stage reuses the answer
            try:
                call.proba = call.served.victim.predict_proba(call.X)
            except UpstreamError as exc:
                raise GatewayError(exc.code, f"{exc}; nothing was charged") from None
            uncertain = int(np.sum(call.proba.max(axis=1) < work.confident))
        share = work.doubt_share(client.name, call.rows, uncertain) if work.uncertain_bits else 0.0
        return work.work_for(call.rows, taken=client.rows, flagged=client.flagged, share=share), uncertain

    def check(self, gateway: Gateway, call: Call) -> None:
        work, name = self.work, call.client.name
        refused: ProofRefused | None = None
        if call.proof is not None:
            try:
                work.redeem(name, call.proof)
            except ProofRefused as exc:
                refused = exc
        price, uncertain = self.price(call)
        if refused is None and work.charge(name, price, rows=call.rows, uncertain=uncertain):
            call.work_price, call.work_uncertain = price, uncertain
            call.next_challenge = work.advance(name, price)
            return
        shortfall = price - work.credit(name)
        if refused is not None:
            code, message = refused.code, str(refused)
        else:
            code = "proof_of_work_required"
            message = (
                f"this batch costs {price:.0f} hashes and the key's credit holds {work.credit(name):.0f}: "
                f"solve the challenge and resend with {POW_HEADER}"
            )
        raise GatewayError(code, message, extra={"challenge": work.challenge(name, max(shortfall, 1.0))})

    def undo(self, gateway: Gateway, call: Call) -> None:
        if call.work_price:
            self.work.refund(call.client.name, call.work_price, rows=call.rows, uncertain=call.work_uncertain)
            call.work_price, call.work_uncertain = 0.0, 0
            call.next_challenge = None


class RowLimitGuard(Guard):
    """The tier's per-key and per-address row limits (and a throttled client's extra ones)."""

    def __init__(
        self, key_limits: tuple[str, ...], ip_limits: tuple[str, ...], throttle: tuple[str, ...]
    ) -> None:
        self.key_limits, self.ip_limits, self.throttle = key_limits, ip_limits, throttle

    def check(self, gateway: Gateway, call: Call) -> None:
        key = str(call.client.id)
        checks = [(lim, "key", key) for lim in self.key_limits]
        checks += [(lim, "ip", call.ip) for lim in self.ip_limits]
        checks += [(lim, "throttle", key) for lim in self.throttle]
        try:
            refusal = gateway.limiter.acquire(checks, call.rows)
        except LimiterUnavailable as exc:
            raise GatewayError(
                "limiter_unavailable", f"{exc}; nothing was charged, retry later", retry_after=5.0
            ) from None
        if refusal is not None:
            raise limit_refusal(refusal, call.rows)
        call.checks = checks

    def undo(self, gateway: Gateway, call: Call) -> None:
        if call.checks:
            gateway.limiter.release(call.checks, call.rows)
            call.checks = []


# --------------------------------------------------------------------------- model, transforms, view
class ModelStage:
    """The served model's answer: its probabilities when a later stage needs them."""

    def __init__(self, needs_proba: bool, output: OutputMode) -> None:
        self.needs_proba = needs_proba
        self.output = output

    def run(self, call: Call) -> None:
        victim = call.served.victim
        if call.proba is not None and self.output.kind != "confidence":  # a guard asked the model already
            call.shown = call.proba
            if not self.needs_proba:
                call.answers = apply_output_mode(call.proba, self.output)
            return
        try:
            if not self.needs_proba:  # nothing downstream looks: answer in the output mode directly
                call.answers = victim_answers(victim, call.X, self.output)
            elif self.output.kind == "confidence" and hasattr(victim, "predict_proba_and_confidence"):
                call.proba, call.confidence = victim.predict_proba_and_confidence(call.X)
            else:
                call.proba = victim.predict_proba(call.X)
        except UpstreamError as exc:  # the model server behind the gateway failed: charge nothing
            raise GatewayError(exc.code, f"{exc}; nothing was charged") from None
        call.shown = call.proba


class TransformStage:
    """One answer-side defence, bound to the served model."""

    def __init__(self, transform: Transform) -> None:
        self.transform = transform

    def run(self, call: Call) -> None:
        assert call.shown is not None  # the model stage keeps probabilities when transforms follow
        call.shown = self.transform.apply(call.shown, call.X, call.client.name)
        call.confidence = None  # a confidence score no longer matches what is shown


class View:
    """The output mode: what of the (transformed) probabilities the client receives."""

    def __init__(self, output: OutputMode) -> None:
        self.output = output

    def run(self, call: Call) -> None:
        if call.answers is None:
            assert call.shown is not None
            call.answers = apply_output_mode(call.shown, self.output, call.confidence)


# --------------------------------------------------------------------------- observers
class Observer(ABC):
    """Sees an answered call, with the model's own probabilities."""

    @abstractmethod
    def observe(self, gateway: Gateway, call: Call, cost: float) -> None: ...


class DetectorObserver(Observer):
    """The extraction detectors, and the policy's action on each alarm."""

    def observe(self, gateway: Gateway, call: Call, cost: float) -> None:
        if gateway.monitor is None or call.proba is None:
            return
        events = gateway.monitor.observe(
            client=call.client.name,
            created=call.client.created,
            ip=call.ip,
            model=call.served.name,
            space=call.served.victim.feature_space,
            n_classes=len(call.served.class_names),
            X=call.X,
            proba=call.proba,
            now=gateway.clock(),
        )
        call.alarms = gateway.act(events, call.client, call.rows)


class LogObserver(Observer):
    """One row of the query log per answered call (inputs and model answers if the policy keeps them)."""

    def __init__(self, store_inputs: bool) -> None:
        self.store_inputs = store_inputs

    def observe(self, gateway: Gateway, call: Call, cost: float) -> None:
        assert call.answers is not None
        gateway.store.record(
            LogEntry(
                client=call.client,
                ip=call.ip,
                model=call.served.name,
                endpoint=call.endpoint,
                rows=call.rows,
                charged_rows=call.rows,
                cost=cost,
                status=200,
                code=None,
                input_digest=call.digest,
                answer=call.answers,
                inputs=call.X if self.store_inputs else None,
                alarms=call.alarms,
                model_proba=call.proba if self.store_inputs else None,
            )
        )


class MetricsObserver(Observer):
    def observe(self, gateway: Gateway, call: Call, cost: float) -> None:
        gateway.metrics.observe(call.endpoint, 200, call.rows, time.perf_counter() - call.start)


# --------------------------------------------------------------------------- the pipeline
@dataclass(frozen=True)
class Pipeline:
    guards: tuple[Guard, ...]
    model: ModelStage
    transforms: tuple[TransformStage, ...]
    view: View
    observers: tuple[Observer, ...]
    price_per_row: float

    def run(self, gateway: Gateway, call: Call) -> float:
        """Answer ``call`` (``call.answers``) and return its cost; refusals are logged, charge
        nothing, and give back what earlier guards took."""
        passed: list[Guard] = []
        try:
            for guard in self.guards:
                guard.check(gateway, call)
                passed.append(guard)
            self.model.run(call)
            for stage in self.transforms:
                stage.run(call)
            self.view.run(call)
        except GatewayError as err:
            for guard in reversed(passed):
                guard.undo(gateway, call)
            gateway.refuse(call.client, call.ip, call.served.name, call.endpoint, call.rows, err)
            raise
        cost = call.rows * self.price_per_row
        for observer in self.observers:
            observer.observe(gateway, call, cost)
        return cost
