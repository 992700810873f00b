"""Extraction detection: detectors, actions in the gateway, key groups, audit, honest traffic."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelsteal.attacks import make_attack
from modelsteal.campaigns.detection_eval import AttackPlan, ModelSetup, evaluate, format_report
from modelsteal.campaigns.traffic import benign_clients
from modelsteal.cli import main
from modelsteal.datasets import load_dataset
from modelsteal.defenses import (
    BoundaryProbing,
    Coverage,
    DetectionConfig,
    NarrowRange,
    Prada,
    SingleClass,
    UniqueShare,
)
from modelsteal.errors import InvalidInput, RateLimited, Refused
from modelsteal.gateway import Gateway, Policy, ServedModel, Store, Tier, create_app
from modelsteal.gateway.transport import GatewayTransport
from modelsteal.metrics import EvalSet
from modelsteal.oracle import Oracle, OutputMode
from modelsteal.oracle.transports import SplitTransport
from modelsteal.victims import save_model_dir

BIG = ("100000000/day",)
#: the fixed time the monitored gateways of these tests see (a Tuesday noon, UTC)
NOON = 1_796_731_200.0


def feed(state, X: np.ndarray, proba: np.ndarray, batch: int = 20) -> int | None:  # type: ignore[no-untyped-def]
    """Feed a stream in batches; the row count at the first alarm, or None."""
    for i in range(0, X.shape[0], batch):
        alarm = state.observe(X[i : i + batch], proba[i : i + batch])
        if alarm is not None:
            return alarm.at_row
    return None


@pytest.fixture(scope="module")
def digits_softmax(victim_factory: Callable) -> tuple:  # type: ignore[type-arg]
    return victim_factory("digits", "softmax")


@pytest.fixture(scope="module")
def cancer_logreg(victim_factory: Callable) -> tuple:  # type: ignore[type-arg]
    return victim_factory("breast_cancer", "logreg")


def natural_stream(data, n: int, seed: int = 0) -> np.ndarray:  # type: ignore[no-untyped-def]
    client = benign_clients(
        np.vstack([data.X_train, data.X_test]), n_clients=1, queries=n, random_state=seed
    )[0]
    return client.rows


def test_each_detector_fires_on_its_pattern_and_not_on_natural_traffic(digits_softmax: tuple) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    space = data.feature_space
    natural = natural_stream(data, 1000)
    P_nat = victim.predict_proba(natural)
    rng = np.random.default_rng(0)
    uniform = space.sample_uniform(600, rng)
    # a line search: rows along one direction, then another
    a, b = data.X_test[0], data.X_test[1]
    line = np.vstack([a + t * (b - a) for t in np.linspace(0, 1, 300)])
    # feature-by-feature probing: one feature moves at a time
    probe = np.repeat(data.X_test[:1], 300, axis=0)
    probe[np.arange(300), np.arange(300) % 64] = rng.uniform(0, 16, 300)
    cases = [
        (NarrowRange(), line, "narrow_range"),
        (NarrowRange(), probe, "narrow_range"),
        (UniqueShare(), uniform, "unique_share"),
        (Coverage(), uniform, "coverage"),
        (Prada(), probe, "prada"),
    ]
    for detector, X, name in cases:
        assert feed(detector.stream(space, 10), X, victim.predict_proba(X)) is not None, name
        assert feed(detector.stream(space, 10), natural, P_nat) is None, name
    # answers near the boundary, and answers all in one class
    near = np.full((300, 10), 0.02)
    near[:, 0], near[:, 1] = 0.45, 0.39
    assert feed(BoundaryProbing().stream(space, 10), natural[:300], near) == 100
    assert feed(BoundaryProbing().stream(space, 10), natural, P_nat) is None
    one = np.full((600, 10), 0.001)
    one[:, 3] = 0.991
    assert feed(SingleClass().stream(space, 10), natural[:600], one) == 500
    assert feed(SingleClass().stream(space, 2), natural[:600], one[:, :2]) is None  # two classes: no sign
    assert feed(SingleClass().stream(space, 10), natural, P_nat) is None


def test_unique_share_counts_per_hour() -> None:
    space = load_dataset("digits").feature_space
    state = UniqueShare(min_rows=100).stream(space, 10)
    X = space.sample_uniform(150, 0)
    P = np.full((150, 10), 0.1)
    assert state.observe(X[:90], P[:90], now=0.0) is None
    assert state.observe(X[90:], P[90:], now=3600.0) is None  # a new hour: 60 rows, too few to judge
    assert state.observe(X[:50], P[:50], now=3700.0) is not None  # 110 distinct rows this hour


def test_state_stays_within_its_bound(digits_softmax: tuple) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    space = data.feature_space
    X = space.sample_uniform(5000, 1)
    P = victim.predict_proba(X)
    cfg = Prada(max_points=200, window=500)
    state = cfg.stream(space, 10)
    feed(state, X, P, batch=100)
    assert state.nbytes() <= 200 * 64 * 4 + 10 * 3 * 8 + 500 * 24 + 8_000  # points, stats, the distance deque
    unique = UniqueShare(max_rows=1000).stream(space, 10)
    for i in range(0, 5000, 100):
        unique.observe(X[i : i + 100], P[i : i + 100])
    assert len(unique.seen) == 1000 and unique.nbytes() <= 1000 * 41 + 70_000 and unique.alarm is not None


def monitored(tmp_path: Path, victim, data, detection: DetectionConfig, **tier_kwargs) -> Gateway:  # type: ignore[no-untyped-def]
    tiers = {"default": Tier("default", key_limits=BIG, ip_limits=BIG, **tier_kwargs)}
    policy = Policy(tiers=tiers, store_inputs=True, detection=detection)
    return Gateway(
        [ServedModel("digits", victim, data.class_names)],
        policy=policy,
        store=Store(tmp_path / "gw.db"),
        clock=lambda: NOON,  # detectors keep hourly buckets: a run that crosses an hour must not reset them
    )


def test_block_action_refuses_the_next_request_and_logs_the_alarm(
    tmp_path: Path, cancer_logreg: tuple
) -> None:  # type: ignore[type-arg]
    victim, data = cancer_logreg
    gateway = monitored(tmp_path, victim, data, DetectionConfig(detectors=(NarrowRange(action="block"),)))
    key = gateway.store.create_key("prober")
    oracle = Oracle(GatewayTransport(gateway, key, "digits"), max_batch=20)
    with pytest.raises(Refused, match="key_blocked"):
        make_attack("lowd-meek").run(oracle, budget=2000, random_state=0)
    client = gateway.store.client("prober")
    assert client.blocked and client.flagged
    (alarm,) = gateway.store.alarms("prober")
    assert alarm["detector"] == "narrow_range" and alarm["action"] == "block" and alarm["at_row"] >= 50
    logged = [r for r in gateway.store.log(10_000) if r["alarms"]]
    assert len(logged) == 1 and json.loads(logged[0]["alarms"])[0]["detector"] == "narrow_range"
    assert gateway.store.log(1)[0]["status"] == 403  # the request after the alarm


def test_degrade_and_throttle_actions(tmp_path: Path, digits_softmax: tuple) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    config = DetectionConfig(
        detectors=(UniqueShare(min_rows=100, action="degrade"), Coverage(min_rows=100, action="throttle")),
        throttle_limits=("150/hour",),
    )
    gateway = monitored(tmp_path, victim, data, config)
    key = gateway.store.create_key("noisy")
    transport = GatewayTransport(gateway, key, "digits")
    X = data.feature_space.sample_uniform(400, 0)
    answers, _ = transport.send(X[:100])
    assert answers.probabilities is not None
    answers, _ = transport.send(X[100:120])
    assert answers.probabilities is None and answers.labels.shape == (20,)  # degraded to labels
    with pytest.raises(RateLimited, match=r"rate_limited|quota"):
        for i in range(120, 400, 20):
            transport.send(X[i : i + 20])  # throttled: 150 rows per hour
    client = gateway.store.client("noisy")
    assert client.degraded and client.throttled and client.flagged


def test_admin_endpoints_list_flagged_clients_and_clear_them(tmp_path: Path, digits_softmax: tuple) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    gateway = monitored(
        tmp_path, victim, data, DetectionConfig(detectors=(UniqueShare(min_rows=100, action="block"),))
    )
    key = gateway.store.create_key("thief")
    gateway.store.create_key("honest")
    GatewayTransport(gateway, key, "digits").send(data.feature_space.sample_uniform(100, 0))
    app = create_app(gateway, admin_key="admin-secret")

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
            admin = {"Authorization": "Bearer admin-secret"}
            return [
                await client.get("/v1/admin/flagged", headers=admin),
                await client.get("/v1/admin/clients/thief/detectors", headers=admin),
                await client.post(
                    "/v1/models/digits/predict",
                    json={"instances": [[0.0] * 64]},
                    headers={"Authorization": f"Bearer {key}"},
                ),
                await client.post("/v1/admin/clients/thief/clear", headers=admin),
                await client.post(
                    "/v1/models/digits/predict",
                    json={"instances": [[0.0] * 64]},
                    headers={"Authorization": f"Bearer {key}"},
                ),
                await client.get("/v1/admin/flagged", headers={"Authorization": "Bearer wrong"}),
                await client.post("/v1/admin/clients/nobody/clear", headers=admin),
            ]

    flagged, detectors, blocked, cleared, again, denied, unknown = asyncio.run(go())
    body = flagged.json()["clients"]
    assert [c["name"] for c in body] == ["thief"] and body[0]["alarms"][0]["detector"] == "unique_share"
    stream = detectors.json()["streams"][0]
    assert stream["detectors"]["unique_share"]["alarm"]["score"] == 1.0 and stream["bytes"] > 0
    assert blocked.status_code == 403 and blocked.json()["error"]["code"] == "key_blocked"
    assert cleared.status_code == 200 and not cleared.json()["blocked"] and not cleared.json()["flagged"]
    assert again.status_code == 200
    assert denied.status_code == 401 and unknown.status_code == 404


def test_an_attack_split_over_ten_keys_is_caught_by_the_group(tmp_path: Path, cancer_logreg: tuple) -> None:  # type: ignore[type-arg]
    victim, data = cancer_logreg
    gateway = monitored(tmp_path, victim, data, DetectionConfig())
    transports = []
    for j in range(10):
        key = gateway.store.create_key(f"sybil-{j}", created=1_000_000.0 + j)
        transports.append(GatewayTransport(gateway, key, "digits", ip=f"172.16.5.{j + 1}"))
    oracle = Oracle(SplitTransport(transports, chunk=10), max_batch=50)
    make_attack("retrain-linesearch").run(oracle, budget=400, random_state=0)  # 40 rows per key
    for j in range(10):
        alarms = gateway.store.alarms(f"sybil-{j}")
        assert alarms, j
        assert all(not a["stream"].startswith("client:") for a in alarms)  # each key alone looks fine
        assert {a["stream"] for a in alarms} >= {"net:172.16.5.0/24"}
    # a key that joins the caught /24 with honest traffic is not accused with it ...
    late = gateway.store.create_key("latecomer")
    honest = GatewayTransport(gateway, late, "digits", ip="172.16.5.99")
    for batch in benign_clients(np.vstack([data.X_train, data.X_test]), queries=60, random_state=5)[
        0
    ].batched():
        honest.send(batch)
    assert [(a["detector"], a["reason"]) for a in gateway.store.alarms("latecomer")] == []
    # ... one that carries on the attack is named, by the group stream, as soon as it has sent 20 rows
    probe = gateway.store.create_key("late-thief")
    oracle = Oracle(GatewayTransport(gateway, probe, "digits", ip="172.16.5.98"), max_batch=10)
    make_attack("retrain-linesearch").run(oracle, budget=40, random_state=1)
    assert {a["stream"] for a in gateway.store.alarms("late-thief")} >= {"net:172.16.5.0/24"}


def nat_clients(data, n: int = 20, queries: int = 1000, seed: int = 0):  # type: ignore[no-untyped-def]
    natural = np.vstack([data.X_train, data.X_test])
    labels = np.concatenate([data.y_train, data.y_test])
    clients = benign_clients(natural, labels, n_clients=n, queries=queries, random_state=seed)
    return clients


def test_twenty_honest_clients_behind_one_address_raise_no_alarm(
    tmp_path: Path, digits_softmax: tuple
) -> None:  # type: ignore[type-arg]
    """An office behind one NAT: one address, keys created the same morning, honest traffic."""
    victim, data = digits_softmax
    gateway = monitored(tmp_path, victim, data, DetectionConfig())
    clients = nat_clients(data)
    transports = [
        GatewayTransport(
            gateway, gateway.store.create_key(c.name, created=1_000_000.0 + 60 * i), "digits", ip="192.0.2.7"
        )
        for i, c in enumerate(clients)
    ]
    batches = [list(c.batched()) for c in clients]
    for step in range(max(len(b) for b in batches)):  # interleaved, as they reach the server
        for transport, mine in zip(transports, batches, strict=True):
            if step < len(mine):
                transport.send(mine[step])
    assert sum(c.rows for c in gateway.store.clients()) == 20_000
    assert gateway.store.alarms() == []
    streams = {s["stream"] for s in gateway.monitor.report()}  # type: ignore[union-attr]
    assert "net:192.0.2.0/24" in streams and "created:1666" in streams  # they were one group all along


def test_a_thief_behind_the_nat_is_caught_and_its_neighbours_are_not(
    tmp_path: Path, digits_softmax: tuple
) -> None:  # type: ignore[type-arg]
    """A thief, a client that sent 2 queries and one that repeats a row 300 times share an address."""
    victim, data = digits_softmax
    gateway = monitored(tmp_path, victim, data, DetectionConfig())
    ip = "198.51.100.4"
    small = GatewayTransport(gateway, gateway.store.create_key("two-queries"), "digits", ip=ip)
    small.send(data.X_test[:2])
    repeat = GatewayTransport(gateway, gateway.store.create_key("repeater"), "digits", ip=ip)
    for _ in range(15):
        repeat.send(np.repeat(data.X_test[:1], 20, axis=0))
    honest = nat_clients(data, n=5, queries=300, seed=3)
    for c in honest:
        t = GatewayTransport(gateway, gateway.store.create_key(c.name), "digits", ip=ip)
        for batch in c.batched():
            t.send(batch)
    thief = gateway.store.create_key("thief")
    oracle = Oracle(GatewayTransport(gateway, thief, "digits", ip=ip), max_batch=50)
    make_attack("retrain-uniform").run(oracle, budget=400, random_state=0)
    assert gateway.store.alarms("thief"), "the thief's own stream catches it"
    accused = {a["client_name"] for a in gateway.store.alarms()}
    assert accused == {"thief"}


def test_audit_verdicts_do_not_depend_on_model(
    tmp_path: Path, digits_softmax: tuple, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    gateway = monitored(tmp_path, victim, data, DetectionConfig(detectors=()), output=OutputMode("label"))
    for name, attack in (("t1", "retrain-uniform"), ("t2", "retrain-linesearch")):
        key = gateway.store.create_key(name)
        make_attack(attack).run(
            Oracle(GatewayTransport(gateway, key, "digits", ip="203.0.113.9"), max_batch=50), budget=300
        )
    for c in nat_clients(data, n=3, queries=300):
        t = GatewayTransport(gateway, gateway.store.create_key(c.name), "digits", ip="203.0.113.9")
        for batch in c.batched():
            t.send(batch)
    model_dir = save_model_dir(victim, data, tmp_path / "digits", seed=0, name="digits")
    db = str(tmp_path / "gw.db")
    assert main(["audit", "--db", db]) == 0
    without = capsys.readouterr().out
    assert main(["audit", "--db", db, "--model", str(model_dir)]) == 0
    assert capsys.readouterr().out == without
    assert "LOOKS LIKE EXTRACTION" in without and without.count("no alarm") == 3


def test_honest_clients_raise_no_alarm(tmp_path: Path, digits_softmax: tuple) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    gateway = monitored(tmp_path, victim, data, DetectionConfig())
    natural = np.vstack([data.X_train, data.X_test])
    clients = benign_clients(natural, np.concatenate([data.y_train, data.y_test]), n_clients=20, queries=1000)
    assert len({c.ip.rsplit(".", 1)[0] for c in clients}) == 20
    for c in clients:
        transport = GatewayTransport(
            gateway, gateway.store.create_key(c.name, created=c.created), "digits", ip=c.ip
        )
        for batch in c.batched():
            transport.send(batch)
    assert [(a["client_name"], a["detector"], a["reason"]) for a in gateway.store.alarms()] == []
    assert sum(c.rows for c in gateway.store.clients()) == 20_000


def test_audit_replays_the_log(
    tmp_path: Path, digits_softmax: tuple, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[type-arg]
    victim, data = digits_softmax
    gateway = monitored(tmp_path, victim, data, DetectionConfig(detectors=()))  # nothing live
    thief = gateway.store.create_key("thief")
    make_attack("retrain-linesearch").run(
        Oracle(GatewayTransport(gateway, thief, "digits"), max_batch=50), budget=600
    )
    honest = gateway.store.create_key("honest", created=0.0)
    transport = GatewayTransport(gateway, honest, "digits", ip="10.9.9.9")
    for batch in benign_clients(np.vstack([data.X_train, data.X_test]), queries=600)[0].batched():
        transport.send(batch)
    db = tmp_path / "gw.db"
    assert main(["audit", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    lines = {line.split("\t")[0]: line for line in out.strip().splitlines()}
    assert "LOOKS LIKE EXTRACTION" in lines["thief"] and "from query" in lines["thief"]
    assert lines["honest"].endswith("no alarm")
    assert main(["audit", "--db", str(tmp_path / "none.db")]) == 2
    bare = tmp_path / "bare.db"
    g2 = Gateway([ServedModel("digits", victim, data.class_names)], store=Store(bare))
    GatewayTransport(g2, g2.store.create_key("x"), "digits").send(data.X_test[:5])
    assert main(["audit", "--db", str(bare)]) == 2  # no inputs stored
    with sqlite3.connect(bare) as conn:
        assert conn.execute("SELECT COUNT(*) FROM query_log").fetchone()[0] == 1


def test_detection_policy_from_yaml(tmp_path: Path) -> None:
    text = """
detection:
  detectors:
    prada: {delta: 0.8, action: flag}
    narrow_range: {action: block}
  groups: [ip_prefix]
  throttle_limits: ["10/minute"]
"""
    path = tmp_path / "p.yaml"
    path.write_text(text)
    policy = Policy.load(path)
    assert policy.detection is not None
    assert [d.name for d in policy.detection.detectors] == ["prada", "narrow_range"]
    assert policy.detection.detectors[0].delta == 0.8  # type: ignore[attr-defined]
    assert Policy.from_dict({"detection": {}}).detection == DetectionConfig()
    assert Policy.from_dict({}).detection is None
    for bad in (
        {"detectors": {"psychic": {}}},
        {"detectors": {"prada": {"action": "shout"}}},
        {"detectors": {"prada": {"nope": 1}}},
        {"groups": ["by_hat"]},
        {"throttle_limits": ["lots"]},
    ):
        with pytest.raises(InvalidInput):
            Policy.from_dict({"detection": bad})


def test_detect_eval_on_a_small_suite(victim_factory: Callable) -> None:
    victim, data = victim_factory("breast_cancer", "logreg")
    natural = np.vstack([data.X_train, data.X_test])
    y = np.concatenate([data.y_train, data.y_test])
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=500)
    models = {"cancer": ModelSetup("cancer", victim, data.class_names, ev, natural, y)}
    plans = [
        AttackPlan("lowd-meek", "cancer", "label", "lowd-meek", 1100),
        AttackPlan("eq-logistic", "cancer", "default", "eq-logistic", 31),
        AttackPlan("eq-logistic vs label-only", "cancer", "label", "eq-logistic", 31),
    ]
    report = evaluate(models=models, plans=plans, n_benign=3, benign_queries=300)
    lowd, eq, refused = report.outcomes
    assert lowd.alarms and lowd.first is not None and lowd.first[1] <= 150
    assert eq.queries == 31 and not eq.alarms  # too short for any statistical test
    assert refused.refused is not None and "UnsupportedOracle" in refused.refused
    assert report.benign_rows == 900 and all(not fired for fired in report.benign.values())
    text = format_report(report)
    assert "refused: UnsupportedOracle" in text and "0/3" in text


def test_unique_share_alarms_early_on_a_run_of_distinct_inputs() -> None:
    space = load_dataset("digits").feature_space
    X = space.sample_uniform(120, 0)
    P = np.full((120, 10), 0.1)
    assert feed(UniqueShare().stream(space, 10), X, P) == 100
    repeating = X.copy()
    repeating[60] = repeating[10]  # one repeat among the first 100
    assert feed(UniqueShare().stream(space, 10), repeating, P) is None


def test_confidence_answers_under_monitoring_match_the_tree(tmp_path: Path, victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "tree")
    gateway = monitored(tmp_path, victim, data, DetectionConfig(), output=OutputMode("confidence"))
    answers, _ = GatewayTransport(gateway, gateway.store.create_key("c"), "digits").send(data.X_test[:7])
    proba, confidence = victim.predict_proba_and_confidence(data.X_test[:7])
    assert np.array_equal(answers.labels, proba.argmax(axis=1))
    assert answers.confidences is not None and np.allclose(answers.confidences, confidence)
