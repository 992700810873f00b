"""Play the whole attack suite and honest clients through a monitored gateway; score the detectors.

For every attack: which detectors raised an alarm, after how many of its queries, and what
fidelity the attacker had reached then (the attack rerun in memory, same seed, with its
budget cut at that query: for non-adaptive attacks exactly the copy it held). For the
honest clients: which detectors raised a false alarm. Exact attacks that finish before
any statistical test can judge them are played against the label-only tier to show that
the output mode stops them. One attack is also split over 10 keys from one /24 to
exercise the group streams.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.attacks.registry import ATTACKS, make_attack
from modelsteal.campaigns.traffic import benign_clients
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.defenses.detectors import DetectionConfig
from modelsteal.errors import ModelStealError
from modelsteal.gateway.policy import Policy, Tier
from modelsteal.gateway.service import Gateway, ServedModel
from modelsteal.gateway.store import Store
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.metrics.fidelity import EvalSet, compare
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.oracle.transports import SplitTransport
from modelsteal.victims.training import TrainOptions, train_victim

BIG = ("100000000/day",)


@dataclass
class ModelSetup:
    name: str
    victim: Any
    class_names: tuple[str, ...]
    eval_set: EvalSet
    natural: np.ndarray
    natural_y: np.ndarray
    pool: Any = None


@dataclass(frozen=True)
class AttackPlan:
    label: str
    model: str
    tier: str
    attack: str
    budget: int
    options: dict[str, Any] = field(default_factory=dict)
    keys: int = 1


@dataclass
class AttackOutcome:
    plan: AttackPlan
    queries: int
    fidelity: float | None
    alarms: dict[str, int]  # detector -> client rows when it first fired
    fidelity_at: dict[str, float | None]
    refused: str | None = None
    seconds: float = 0.0
    streams: dict[str, str] = field(default_factory=dict)  # detector -> client, net or created

    @property
    def first(self) -> tuple[str, int] | None:
        if not self.alarms:
            return None
        name = min(self.alarms, key=lambda k: self.alarms[k])
        return name, self.alarms[name]


@dataclass
class DetectionReport:
    outcomes: list[AttackOutcome]
    benign: dict[str, list[str]]  # client -> detectors that fired
    benign_rows: int
    detectors: tuple[str, ...]
    benign_peaks: dict[str, list[float]] = field(default_factory=dict)  # detector -> each client's peak score

    def detector_rows(self) -> list[dict[str, Any]]:
        caught_by = [o for o in self.outcomes if o.refused is None]
        out = []
        for name in self.detectors:
            hits = [o for o in caught_by if name in o.alarms]
            fps = sum(1 for fired in self.benign.values() if name in fired)
            fids = [f for o in hits if (f := o.fidelity_at.get(name)) is not None]
            peaks = [p for p in self.benign_peaks.get(name, []) if not np.isnan(p)]
            worst = None
            if peaks:
                worst = min(peaks) if name == "prada" else max(peaks)
            out.append(
                {
                    "detector": name,
                    "detected": f"{len(hits)}/{len(caught_by)}",
                    "false_positives": f"{fps}/{len(self.benign)}",
                    "median_queries": int(np.median([o.alarms[name] for o in hits])) if hits else None,
                    "mean_fidelity_at_alarm": float(np.mean(fids)) if fids else None,
                    "honest_peak": worst,
                }
            )
        return out


def build_models(random_state: int = 0) -> dict[str, ModelSetup]:
    """The victims the suite attacks: digits (softmax, MLP, tree, CNN) and breast_cancer (logreg)."""
    digits, cancer = load_dataset("digits"), load_dataset("breast_cancer")
    owner, pool = split_for_theft(digits, random_state=random_state)
    natural_digits = np.vstack([digits.X_test, pool.X])
    natural_digits_y = np.concatenate([digits.y_test, pool.y if pool.y is not None else []])
    natural_cancer = np.vstack([cancer.X_train, cancer.X_test])
    natural_cancer_y = np.concatenate([cancer.y_train, cancer.y_test])
    specs: list[tuple[str, Any, Any, Any, Any, Any]] = [
        ("digits-softmax", digits, "softmax", natural_digits, natural_digits_y, None),
        ("digits-mlp", digits, "mlp", natural_digits, natural_digits_y, None),
        ("digits-tree", digits, "tree", natural_digits, natural_digits_y, None),
        ("digits-cnn", owner, "cnn", natural_digits, natural_digits_y, pool),
        ("cancer-logreg", cancer, "logreg", natural_cancer, natural_cancer_y, None),
    ]
    out = {}
    for name, data, family, natural, natural_y, thief_pool in specs:
        victim = train_victim(data, family, seed=0, options=TrainOptions(epochs=20))
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=2000, random_state=1
        )
        out[name] = ModelSetup(name, victim, data.class_names, ev, natural, natural_y, thief_pool)
    return out


def default_plans() -> list[AttackPlan]:
    cnn = [
        AttackPlan("knockoff-random", "digits-cnn", "default", "knockoff", 400),
        AttackPlan("knockoff-adaptive", "digits-cnn", "default", "knockoff", 400, {"policy": "adaptive"}),
        AttackPlan("copycat", "digits-cnn", "label", "copycat", 400),
        AttackPlan("jacobian", "digits-cnn", "default", "jacobian", 400),
        AttackPlan("active-uncertainty", "digits-cnn", "default", "active", 400, {"strategy": "uncertainty"}),
        AttackPlan("active-kcenter", "digits-cnn", "default", "active", 400, {"strategy": "kcenter"}),
        AttackPlan("active-mix", "digits-cnn", "default", "active", 400, {"strategy": "mix"}),
        AttackPlan("semi-supervised", "digits-cnn", "default", "semi-supervised", 400),
    ]
    return [
        AttackPlan("eq-logistic", "cancer-logreg", "default", "eq-logistic", 31),
        AttackPlan("eq-softmax", "digits-softmax", "default", "eq-softmax", 65),
        AttackPlan("eq-mlp", "digits-mlp", "default", "eq-mlp", 3020),
        AttackPlan("path-finding", "digits-tree", "confidence", "path-finding", 4000),
        AttackPlan("lowd-meek", "cancer-logreg", "label", "lowd-meek", 34 * 31),
        AttackPlan("retrain-uniform", "cancer-logreg", "label", "retrain-uniform", 20 * 31),
        AttackPlan("retrain-linesearch", "cancer-logreg", "label", "retrain-linesearch", 30 * 31),
        AttackPlan("retrain-adaptive", "cancer-logreg", "label", "retrain-adaptive", 20 * 31),
        AttackPlan("retrain-uniform (softmax)", "digits-softmax", "label", "retrain-uniform", 1000),
        *cnn,
        AttackPlan(
            "path-finding split over 10 keys", "digits-tree", "confidence", "path-finding", 4000, keys=10
        ),
        AttackPlan(
            "retrain-linesearch split over 10 keys",
            "cancer-logreg",
            "label",
            "retrain-linesearch",
            930,
            keys=10,
        ),
        AttackPlan("jacobian split over 10 keys", "digits-cnn", "default", "jacobian", 400, keys=10),
        # equation solving against the label-only tier: the output mode stops it
        AttackPlan("eq-logistic vs label-only", "cancer-logreg", "label", "eq-logistic", 31),
        AttackPlan("eq-softmax vs label-only", "digits-softmax", "label", "eq-softmax", 65),
    ]


def detection_policy(config: DetectionConfig | None = None) -> Policy:
    tiers = {
        name: Tier(name, key_limits=BIG, ip_limits=BIG, price_per_row=0.001, output=OutputMode(kind))  # type: ignore[arg-type]
        for name, kind in (("default", "probabilities"), ("label", "label"), ("confidence", "confidence"))
    }
    return Policy(
        tiers=tiers,
        allow_missing=True,
        store_inputs=True,
        detection=config or DetectionConfig(),
    )


def evaluate(
    *,
    models: dict[str, ModelSetup] | None = None,
    plans: list[AttackPlan] | None = None,
    n_benign: int = 20,
    benign_queries: int = 1000,
    config: DetectionConfig | None = None,
    db: str | Path | None = None,
    seed: int = 0,
    max_batch: int = 50,
    progress: Callable[[str], None] | None = None,
    nat: bool = False,
) -> DetectionReport:
    """Run ``plans`` and ``n_benign`` honest clients per model through one monitored gateway.

    ``nat``: every honest client of a model and every thief of it come from one address,
    with the honest keys created within ten minutes of each other (an office behind a NAT
    that a thief shares), so every client of a model is in one key group twice over.
    """
    say = progress or (lambda _msg: None)
    if models is None:
        models = build_models(seed)
        say(f"trained {len(models)} victims")
    plans = plans if plans is not None else default_plans()
    policy = detection_policy(config)
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory()
        db = Path(tmp.name) / "detect.db"
    gateway = Gateway(
        [ServedModel(m.name, m.victim, m.class_names) for m in models.values()],
        policy=policy,
        store=Store(db),
    )
    now = time.time()
    benign: dict[str, list[str]] = {}
    peaks: dict[str, list[float]] = {}
    benign_rows = 0
    for k, setup in enumerate(models.values()):
        clients = benign_clients(
            setup.natural,
            setup.natural_y,
            n_clients=n_benign,
            queries=benign_queries,
            now=now,
            prefix=f"benign-{setup.name}",
            random_state=seed + k,
        )
        for i, c in enumerate(clients):
            created = now - 3 * 3600.0 + 20.0 * i if nat else c.created
            key = gateway.store.create_key(c.name, created=created)
            transport = GatewayTransport(gateway, key, setup.name, ip=nat_address(k) if nat else c.ip)
            for batch in c.batched():
                transport.send(batch)
            benign_rows += c.rows.shape[0]
            benign[c.name] = sorted({a["detector"] for a in gateway.store.alarms(c.name)})
            for stream in gateway.monitor.report(c.name) if gateway.monitor is not None else []:
                for det, info in stream["detectors"].items():
                    peaks.setdefault(det, []).append(np.nan if info["peak"] is None else info["peak"])
        say(f"{n_benign} benign clients on {setup.name}")
    outcomes = []
    order = list(models)
    for i, plan in enumerate(plans):
        ip = nat_address(order.index(plan.model)) if nat else None
        outcomes.append(_play(gateway, models[plan.model], plan, i, seed, max_batch, ip=ip))
        o = outcomes[-1]
        say(f"{plan.label}: {o.refused or o.first}")
    for name in benign:  # alarms raised while the thieves played name honest clients too, if any
        benign[name] = sorted({a["detector"] for a in gateway.store.alarms(name)})
    if tmp is not None:
        gateway.store.close()
        tmp.cleanup()
    names = tuple(d.name for d in policy.detection.detectors)  # type: ignore[union-attr]
    return DetectionReport(outcomes, benign, benign_rows, names, peaks)


def nat_address(k: int) -> str:
    """The one address every client of the ``k``-th model has in the NAT scenario."""
    return f"192.0.2.{k + 1}"


def _play(
    gateway: Gateway,
    setup: ModelSetup,
    plan: AttackPlan,
    index: int,
    seed: int,
    max_batch: int,
    *,
    ip: str | None = None,
) -> AttackOutcome:
    names = [f"thief-{index:02d}-{j}" for j in range(plan.keys)]
    transports = []
    created = time.time() - 86400.0 * (index + 1) / 7  # thieves open their keys at different times
    for j, name in enumerate(names):
        key = gateway.store.create_key(name, tier=plan.tier, created=created)
        address = ip if ip is not None else f"172.16.{index}.{j + 1}"
        transports.append(GatewayTransport(gateway, key, setup.name, ip=address))
    transport: Any = transports[0] if plan.keys == 1 else SplitTransport(transports, chunk=10)
    options = dict(plan.options)
    if setup.pool is not None and ATTACKS[plan.attack].takes_pool:
        options["pool"] = setup.pool
    attack = make_attack(plan.attack, **options)
    start = time.perf_counter()
    try:
        result = attack.run(
            Oracle(transport, max_batch=max_batch),
            budget=plan.budget,
            random_state=seed,
            eval_set=setup.eval_set,
        )
    except ModelStealError as exc:
        return AttackOutcome(plan, 0, None, {}, {}, refused=f"{type(exc).__name__}: {str(exc)[:80]}")
    seconds = time.perf_counter() - start
    alarms: dict[str, int] = {}
    streams: dict[str, str] = {}
    for name in names:
        for a in gateway.store.alarms(name):
            if a["stream"].startswith("client:"):
                rows = int(a["client_rows"]) * plan.keys  # the thief's total: its keys send alike
            else:
                rows = int(a["at_row"])  # a group stream counts every member's rows
            if rows < alarms.get(a["detector"], rows + 1):
                alarms[a["detector"]] = rows
                streams[a["detector"]] = a["stream"].split(":")[0]
    fidelity_at: dict[str, float | None] = {}
    cache: dict[int, float | None] = {}
    mode = gateway.policy.tiers[plan.tier].output
    for det, rows in alarms.items():
        if rows not in cache:
            cache[rows] = _fidelity_after(setup, plan, options, mode, rows, seed, result.queries)
        fidelity_at[det] = cache[rows]
    final = result.comparison.fidelity_test if result.comparison is not None else None
    return AttackOutcome(plan, result.queries, final, alarms, fidelity_at, seconds=seconds, streams=streams)


def _fidelity_after(
    setup: ModelSetup,
    plan: AttackPlan,
    options: dict[str, Any],
    mode: OutputMode,
    rows: int,
    seed: int,
    total: int,
) -> float | None:
    """The fidelity of the copy the attack holds after ``rows`` queries (None: it has none yet)."""
    attack = make_attack(plan.attack, **options)
    oracle = Oracle(LocalTransport(setup.victim, output_mode=mode))
    budget = min(rows, total)
    if budget < attack.min_queries(oracle.info):
        return None
    try:
        result = attack.run(oracle, budget=budget, random_state=seed)
    except ModelStealError:
        return None
    return compare(result.model, setup.eval_set).fidelity_test


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _outcome_row(o: AttackOutcome) -> list[str]:
    """One attack's row: what it reached, which detectors fired when, and whether in time."""
    p = o.plan
    if o.refused is not None:
        return [p.label, p.model, p.tier, "0", "—", "refused: " + o.refused.split(":")[0], "—", "—"]
    first = o.first
    fired = ", ".join(
        f"{d} @{q} ({o.streams.get(d, 'client')})" for d, q in sorted(o.alarms.items(), key=lambda kv: kv[1])
    )
    caught = "no"
    if first is not None:
        fid = o.fidelity_at.get(first[0])
        caught = "yes" if fid is None or fid < 0.9 else "after 90%"
    return [
        p.label,
        p.model,
        p.tier,
        str(o.queries),
        _pct(o.fidelity),
        fired or "none",
        _pct(o.fidelity_at.get(first[0])) if first else "—",
        caught,
    ]


def format_report(report: DetectionReport) -> str:
    """The two tables ``modelsteal detect-eval`` prints (markdown)."""
    rows = [_outcome_row(o) for o in report.outcomes]
    attacks = _markdown(
        [
            "attack",
            "victim",
            "answers",
            "queries",
            "final fidelity %",
            "alarms: detector @query (stream)",
            "fidelity % at first alarm",
            "caught before 90%",
        ],
        rows,
    )
    det_rows = [
        [
            r["detector"],
            r["detected"],
            r["false_positives"],
            "—" if r["median_queries"] is None else str(r["median_queries"]),
            _pct(r["mean_fidelity_at_alarm"]),
            "—" if r["honest_peak"] is None else f"{r['honest_peak']:.3f}",
        ]
        for r in report.detector_rows()
    ]
    detectors = _markdown(
        [
            "detector",
            "attacks detected",
            "false positives (benign clients)",
            "median queries to alarm",
            "mean fidelity % at alarm",
            "most alarming honest score",
        ],
        det_rows,
    )
    benign = f"{len(report.benign)} benign clients, {report.benign_rows:,} queries"
    return f"{attacks}\n\n{detectors}\n\n({benign}; fidelity '—' at an alarm: the attack had no model yet)"
