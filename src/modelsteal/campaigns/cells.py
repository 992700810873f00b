"""One campaign cell, run in a worker: an attack or honest traffic against a defended victim.

:func:`run_cell` takes plain data (the cell's content, where its victim lives, the served
gateway if any) and returns plain data, so a local process pool and a Ray cluster run it
alike. Everything random is seeded by the cell; the API key is named after the cell's id,
and the gateway's keyed defences draw from that name, so a cell answers the same on every
run, in-process or over HTTP.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from modelsteal.errors import ModelStealError, RateLimited, Refused, UnsupportedOracle
from modelsteal.metrics.fidelity import tv_distance

#: the history points the report draws fidelity-versus-queries from
HISTORY_FIELDS = ("queries", "fidelity_test", "fidelity_uniform")

# Cells must not see each other. In-process each has a gateway of its own; over HTTP the cells
# of a policy share one gateway, whose detectors group keys by address (/24) and by creation
# time. So every cell gets a slot: its clients send from their own /24 inside 127.0.0.0/8
# (all of it is loopback on Linux) and their keys are dated in a stretch of time of their own,
# before a fixed epoch (a deterministic date: creation groups are buckets of absolute time).
#: a fixed moment the slots' creation times count back from
EPOCH = 1_600_000_000.0
#: each slot's stretch of key creation times: longer than honest clients' 60 days of history
SLOT_SECONDS = 100 * 86400.0
#: distinct /24 networks in 127.1.0.0 to 127.250.249.0
ADDRESS_BLOCKS = 250 * 250


def client_address(slot: int, width: int, client: int) -> str:
    """The loopback address client ``client`` of the cell in ``slot`` sends from (its own /24)."""
    n = (slot * width + client) % ADDRESS_BLOCKS
    return f"127.{1 + n // 250}.{n % 250}.7"


def created_at(slot: int, offset: float = 0.0) -> float:
    """When a key of the cell in ``slot`` was created (``offset``: seconds before the slot's end)."""
    return EPOCH - slot * SLOT_SECONDS + offset


def run_cell(payload: dict[str, Any]) -> dict[str, Any]:
    """Run one cell; returns ``{"status": done|failed|skipped, "result": {...}, "error": str|None}``."""
    import torch

    torch.set_num_threads(1)
    content = payload["content"]
    try:
        result = _honest(payload) if content["kind"] == "honest" else _attack(payload)
    except ModelStealError as exc:
        status = "skipped" if isinstance(exc, UnsupportedOracle) else "failed"
        return {"status": status, "result": {}, "error": f"{type(exc).__name__}: {exc}"}
    except Exception as exc:  # a worker must report, never take the run down with it
        return {"status": "failed", "result": {}, "error": f"{type(exc).__name__}: {exc}"}
    return {"status": "done", "result": result, "error": None}


# ---------------------------------------------------------------------- the API the cell talks to


class _Api:
    """Where a cell's clients connect: ``connect(name)`` gives a transport for a new key."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.store: Any = None
        self.gateway: Any = None
        self.transports: list[Any] = []
        self.clients: list[Any] = []

    def connect(self, key_name: str, client: int = 0, age: float = 0.0) -> Any:
        """A transport for a new key: client number ``client`` of the cell, created ``age`` seconds early."""
        content = self.payload["content"]
        victim = content["victim"]
        slot, width = int(self.payload.get("slot", 0)), int(self.payload.get("slot_width", 1))
        ip = client_address(slot, width, client)
        if "url" in victim:
            transport = _remote(victim)
        elif self.payload.get("gateway") is not None:  # a gateway process the driver serves on loopback
            import httpx

            from modelsteal.oracle.http import HTTPTransport

            key = self.store.create_key(key_name, content["policy"]["tier"], created=created_at(slot, -age))
            url = self.payload["gateway"]["url"]
            http = httpx.Client(timeout=60.0, transport=httpx.HTTPTransport(local_address=ip))
            self.clients.append(http)
            transport = HTTPTransport(f"{url}/v1/models/{quote(self.payload['model'])}", key, client=http)
        else:
            from modelsteal.gateway.transport import GatewayTransport

            key = self.store.create_key(key_name, content["policy"]["tier"], created=created_at(slot, -age))
            transport = GatewayTransport(self.gateway, key, self.payload["model"], ip=ip)
        self.transports.append(transport)
        return transport


@contextmanager
def _api(payload: dict[str, Any]) -> Iterator[_Api]:
    """The cell's API: a remote server, the driver's gateway over HTTP, or a gateway in this process."""
    from modelsteal.gateway.store import Store

    api = _Api(payload)
    content = payload["content"]
    with tempfile.TemporaryDirectory(prefix="modelsteal-cell-") as tmp:
        try:
            if "url" not in content["victim"]:
                served = payload.get("gateway")
                api.store = Store(served["db"] if served is not None else Path(tmp) / "gateway.db")
                if served is None:
                    api.gateway = _gateway(payload, api.store)
            yield api
        finally:
            for transport in api.transports:
                transport.close()
            for http in api.clients:
                http.close()
            if api.store is not None:
                api.store.close()


def _gateway(payload: dict[str, Any], store: Any) -> Any:
    from modelsteal.gateway.policy import Policy
    from modelsteal.gateway.service import Gateway, ServedModel
    from modelsteal.victims.model_dir import load_model_dir

    content = payload["content"]
    md = load_model_dir(payload["victim_dir"])
    name = payload["model"]
    return Gateway(
        [ServedModel(name, md.victim, tuple(str(c) for c in md.card["classes"]), md.card)],
        policy=Policy.from_dict(content["policy"]["policy"]),
        store=store,
    )


def _remote(victim: dict[str, Any]) -> Any:
    import os

    from modelsteal.oracle.connect import open_transport

    params = victim["url"]
    env = params.get("api_key_env")
    key = os.environ.get(env) if env else None
    if env and not key:
        raise ModelStealError(f"victim {victim['name']}: set ${env} to the remote API's key")
    return open_transport(
        params["url"],
        key,
        protocol=params.get("protocol", "modelsteal"),
        template=params.get("template"),
        feature_space=params.get("feature_space"),
        eval_dir=params.get("eval"),
    )


def _alarms(store: Any, name: str) -> dict[str, int]:
    """The query (row) of each detector's first alarm on ``name``."""
    if store is None:
        return {}
    firsts: dict[str, int] = {}
    for alarm in store.alarms(name):
        firsts.setdefault(str(alarm["detector"]), int(alarm["at_row"]))
    return firsts


def _flagged(store: Any, name: str) -> bool | None:
    if store is None:
        return None
    try:
        return bool(store.client(name).flagged)
    except ModelStealError:
        return None


# ---------------------------------------------------------------------- an attack


def _copy_record(result: Any, first_alarm: int | None) -> dict[str, Any]:
    """What a cell keeps of a finished attack: how close its copy is, its history, and the
    attack's parameters as it ran."""
    summary = result.summary()
    history = [{name: getattr(p, name) for name in HISTORY_FIELDS} for p in result.history]
    return {
        "fidelity_test": summary.get("fidelity_test"),
        "fidelity_uniform": summary.get("fidelity_uniform"),
        "tv_test": summary.get("tv_test"),
        "accuracy_stolen": summary.get("accuracy_stolen"),
        "accuracy_victim": summary.get("accuracy_victim"),
        "seconds": summary.get("seconds"),
        "history": history,
        "fidelity_at_first_alarm": fidelity_at(history, first_alarm),
        "params": result.params,
    }


def _attack(payload: dict[str, Any]) -> dict[str, Any]:
    from modelsteal.attacks.registry import make_attack
    from modelsteal.campaigns.experiment import eval_set_for, thief_pool
    from modelsteal.oracle import Oracle
    from modelsteal.victims.model_dir import load_model_dir

    content = payload["content"]
    spec = content["attack"]
    seed = int(content["seed"])
    judge = load_model_dir(payload["victim_dir"])
    options = dict(spec["options"])
    if spec["pool"] is not None:
        options["pool"] = thief_pool(
            spec["pool"], judge.feature_space, card=judge.card, model_dir=judge.path, seed=seed
        )
    attacker = make_attack(spec["attack"], **options)
    eval_set = eval_set_for(judge, n_uniform=int(content["n_uniform"]), seed=seed)
    key_name = f"cell-{payload['id']}"
    cpu = time.process_time()
    wall = time.perf_counter()
    with _api(payload) as api:
        transport = api.connect(key_name)
        store = api.store
        oracle = Oracle(transport)
        stopped: dict[str, Any] = {}
        result = None
        try:
            result = attacker.run(oracle, budget=int(content["budget"]), random_state=seed, eval_set=eval_set)
        except (Refused, RateLimited) as exc:
            # the defence stopped the thief before its budget: what it stole is what it had
            stopped = {
                "stopped_by": getattr(exc, "code", None) or type(exc).__name__,
                "stopped_at": oracle.queries,
            }
        work = getattr(transport, "work", None)
        usage = _usage(transport)
        alarms = _alarms(store, key_name)
        flagged = _flagged(store, key_name)
    out: dict[str, Any] = {
        "queries": oracle.queries,
        "money": float(usage.get("spent", oracle.cost)) if usage else float(oracle.cost),
        "cpu_seconds": round(time.process_time() - cpu, 4),
        "wall_seconds": round(time.perf_counter() - wall, 4),
        "pow_hashes": int(getattr(work, "hashes", 0) or 0),
        "pow_seconds": round(float(getattr(work, "seconds", 0.0) or 0.0), 4),
        "flagged": flagged,
        "alarms": alarms,
        "first_alarm": min(alarms.values()) if alarms else None,
        **stopped,
    }
    if result is None:
        out.update({"fidelity_test": 0.0, "fidelity_uniform": 0.0, "accuracy_stolen": None, "history": []})
        return out
    out.update(_copy_record(result, out["first_alarm"]))
    if content.get("ownership"):
        out["ownership"] = verify_copy(result.model, judge, payload.get("zoo"), content["ownership"], seed)
    return out


def verify_copy(
    model: Any, owner_dir: Any, zoo: str | None, spec: dict[str, Any], seed: int
) -> dict[str, dict[str, Any]]:
    """Each method's verdict on the stolen copy, against the null of the victim's independent models."""
    from modelsteal.oracle import LocalTransport, Oracle
    from modelsteal.victims.base import SklearnVictim

    if zoo is None:
        return {m: {"error": "no independent models for this victim"} for m in spec["methods"]}
    copy = SklearnVictim(model, owner_dir.feature_space, family="copy")
    verdicts: dict[str, dict[str, Any]] = {}
    for name in spec["methods"]:
        try:
            stamp = (owner_dir.path / "card.json").stat().st_mtime_ns, Path(zoo).stat().st_mtime_ns
            method, evidence, null = _ownership_test(
                str(owner_dir.path), zoo, stamp, name, int(spec["queries"]), seed
            )
            verdict = method.verify(evidence, Oracle(LocalTransport(copy)), null, alpha=float(spec["alpha"]))
        except ModelStealError as exc:
            verdicts[name] = {"error": str(exc)}
            continue
        verdicts[name] = {
            "p_value": verdict.p_value,
            "empirical_p": verdict.empirical_p,
            "statistic": verdict.statistic,
            "stolen": verdict.stolen,
            "alpha": verdict.alpha,
            "queries": verdict.queries,
            "independents": verdict.independents,
            "false_accusation_rate": verdict.false_accusation_rate,
        }
    return verdicts


@functools.lru_cache(maxsize=32)
def _ownership_test(
    owner_dir: str, zoo: str, stamp: tuple[int, int], name: str, queries: int, seed: int
) -> tuple[Any, Any, Any]:
    """The method, its evidence and its null for one victim and seed: the same for every cell of
    that victim and seed, so a worker makes them once (they are deterministic). ``stamp``: when
    the victim and its zoo were written, so a retrained victim is never judged by a stale null."""
    from modelsteal.ownership import load_zoo, make_method, null_distribution, owner_of
    from modelsteal.victims.model_dir import load_model_dir

    md = load_model_dir(owner_dir)
    method = make_method(name, n_samples=queries)
    evidence = method.prepare(owner_of(md), random_state=seed)
    return method, evidence, null_distribution(method, evidence, load_zoo(zoo, md))


def _usage(transport: Any) -> dict[str, Any]:
    """The key's usage from our gateway (in-process or over HTTP); other servers keep none."""
    usage = getattr(transport, "usage", None)
    if usage is None:
        return {}
    try:
        return dict(usage())
    except ModelStealError:
        return {}


def fidelity_at(history: list[dict[str, Any]], query: int | None) -> float | None:
    """The copy's test fidelity at the last checkpoint no later than ``query`` (0 before the
    first); ``None`` without an alarm or without a history."""
    if query is None or not history:
        return None
    reached = [p["fidelity_test"] for p in history if p["queries"] <= query]
    return float(reached[-1]) if reached else 0.0


# ---------------------------------------------------------------------- honest traffic


@dataclass
class _HonestTally:
    """What honest clients were answered, summed over their requests."""

    answered: int = 0
    correct: int = 0
    plain_correct: int = 0
    kept: int = 0
    refused: int = 0
    flagged: int = 0
    requests: int = 0
    spent: float = 0.0
    pow_seconds: float = 0.0
    latency: float = 0.0
    distortion: float = 0.0

    def answer(self, answers: Any, truth: Any, plain: Any, plain_proba: Any) -> None:
        labels = np.asarray(answers.labels)
        self.answered += len(truth)
        self.correct += int(np.sum(labels == truth))
        self.plain_correct += int(np.sum(plain == truth))
        self.kept += int(np.sum(labels == plain))
        seen = seen_distribution(answers, plain_proba.shape[1])
        self.distortion += float(np.sum(tv_distance(seen, plain_proba)))

    def summary(self, clients: int, total: int) -> dict[str, Any]:
        def share(x: float) -> float | None:
            return x / self.answered if self.answered else None

        return {
            "clients": clients,
            "rows": total,
            "honest_accuracy": share(self.correct),
            "plain_accuracy": share(self.plain_correct),
            "labels_kept": share(self.kept),
            "answer_tv": share(self.distortion),
            "refused_share": self.refused / total,
            "flagged_share": self.flagged / clients,
            "money_per_client": self.spent / clients,
            "pow_seconds": round(self.pow_seconds, 4),
            "ms_per_request": round(1000 * self.latency / max(self.requests, 1), 3),
        }


def _honest(payload: dict[str, Any]) -> dict[str, Any]:
    """Honest clients on natural rows: what the policy costs them (accuracy, refusals, money, alarms)."""
    from modelsteal.campaigns.traffic import benign_clients
    from modelsteal.victims.model_dir import load_model_dir

    content = payload["content"]
    seed = int(content["seed"])
    md = load_model_dir(payload["victim_dir"])
    if md.y_eval is None:
        raise ModelStealError("honest traffic needs the victim's labelled evaluation rows")
    plain_proba = md.victim.predict_proba(md.X_eval)
    plain = plain_proba.argmax(axis=1)
    honest = content["honest"]
    clients = benign_clients(
        md.X_eval,
        md.y_eval,
        n_clients=int(honest["clients"]),
        queries=int(honest["queries"]),
        random_state=seed,
        prefix=f"cell-{payload['id']}-honest",
    )
    index = {row.tobytes(): i for i, row in enumerate(md.X_eval)}
    tally = _HonestTally()
    with _api(payload) as api:
        for number, client in enumerate(clients):
            # benign_clients dates each key up to 60 days back (its `created` is relative to now=0)
            transport = api.connect(client.name, number, age=-client.created)
            for batch in client.batched():
                rows = [index[r.tobytes()] for r in batch]
                started = time.perf_counter()
                tally.requests += 1
                try:
                    answers, _cost = transport.send(batch)
                except (Refused, RateLimited):
                    tally.refused += len(rows)
                    continue
                finally:
                    tally.latency += time.perf_counter() - started
                tally.answer(answers, md.y_eval[rows], plain[rows], plain_proba[rows])
            usage = _usage(transport)
            tally.spent += float(usage.get("spent", 0.0)) if usage else 0.0
            tally.pow_seconds += float(getattr(getattr(transport, "work", None), "seconds", 0.0) or 0.0)
            tally.flagged += int(bool(_flagged(api.store, client.name)))
    return tally.summary(len(clients), sum(c.rows.shape[0] for c in clients))


def seen_distribution(answers: Any, n_classes: int) -> Any:
    """What an answer tells the client as a distribution over the classes: the probabilities;
    or the top k with the rest of the mass spread evenly; or the label alone (one-hot)."""
    n = len(answers)
    if answers.probabilities is not None:
        return np.asarray(answers.probabilities, dtype=np.float64)
    if answers.top_k_classes is not None and answers.top_k_probabilities is not None:
        return _spread(answers.top_k_classes, answers.top_k_probabilities, n_classes)
    out = np.zeros((n, n_classes))
    out[np.arange(n), answers.labels] = 1.0
    return out


def _spread(classes: Any, probabilities: Any, c: int) -> Any:
    n = classes.shape[0]
    out = np.zeros((n, c))
    for i in range(n):
        rest = np.ones(c, dtype=bool)
        rest[classes[i]] = False
        if rest.any():
            out[i, rest] = max(0.0, 1.0 - float(np.sum(probabilities[i]))) / int(rest.sum())
        out[i, classes[i]] = probabilities[i]
    return out
