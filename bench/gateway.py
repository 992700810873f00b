"""Gateway throughput and latency on loopback, beside a bare FastAPI endpoint on the same model.

Run: ``.venv/bin/python bench/gateway.py [--requests N] [--markdown]`` (about a minute).

Both servers are uvicorn processes on free loopback ports serving the digits softmax
victim. The gateway has every guard on (key lookup, per-key and per-IP hourly and daily
limits, price, output mode) and writes every request to its SQLite log. Latency: one
client, sequential requests, p50 and p99. Throughput: four concurrent clients, rows per
second. Latency requests alternate between the two servers so both see the same load on
the machine; the mean time inside the gateway (its own histogram) is printed too. The
client runs on the same two cores as the server, so absolute figures include
its cost; the ratios compare like with like. Targets (issue 3): guards and log add at most
1 ms at p50 for batch 1, and the gateway keeps at least 50% of the bare throughput.

Detection (issue 6): a third server runs the same gateway with every detector of the
default detection policy on (PRADA, unique share, narrow range, boundary, single class,
coverage, and the key groups); its p50 is measured in the same alternation. Then, in
process, one client stream is fed 10,000 queries (natural digits and MNIST images, and
uniform noise) and each detector's state is measured in bytes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx
import numpy as np

from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.defenses import DetectionConfig, Monitor
from modelsteal.gateway.process import free_port, gateway_process, stop
from modelsteal.gateway.store import Store
from modelsteal.victims import save_model_dir, train_victim


def latency(targets: list[tuple[str, dict[str, str]]], rows: list[list[float]], n: int) -> list[np.ndarray]:
    """Sequential requests, alternating between the targets so each sees the same machine load."""
    times: list[list[float]] = [[] for _ in targets]
    clients = [httpx.Client(timeout=30) for _ in targets]
    try:
        for i in range(n + 50):
            for j, ((url, headers), client) in enumerate(zip(targets, clients, strict=True)):
                start = time.perf_counter()
                r = client.post(url, json={"instances": rows}, headers=headers)
                elapsed = time.perf_counter() - start
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
                if i >= 50:  # warm-up
                    times[j].append(elapsed)
    finally:
        for client in clients:
            client.close()
    return [np.asarray(t) for t in times]


def server_side_ms(url: str, endpoint: str = "predict") -> float:
    """Mean time inside the gateway per answered request, from its Prometheus histogram."""
    text = httpx.get(url + "/metrics").text
    values = {}
    for line in text.splitlines():
        for kind in ("sum", "count"):
            if line.startswith(f'modelsteal_request_seconds_{kind}{{endpoint="{endpoint}"}}'):
                values[kind] = float(line.split()[-1])
    return 1e3 * values["sum"] / values["count"]


def throughput(url: str, headers: dict[str, str], rows: list[list[float]], n: int, workers: int = 4) -> float:
    def work(_: int) -> int:
        with httpx.Client(timeout=30) as client:
            for _ in range(n // workers):
                client.post(url, json={"instances": rows}, headers=headers).raise_for_status()
        return (n // workers) * len(rows)

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        total = sum(pool.map(work, range(workers)))
    return total / (time.perf_counter() - start)


def detector_memory(markdown: bool) -> None:
    """Bytes each detector holds for one client after 10,000 queries."""
    from modelsteal.victims.base import Victim

    config = DetectionConfig()
    rows_out = []
    for name in ("digits", "mnist5k"):
        data = load_dataset(name)
        victim: Victim = train_victim(data, "softmax", seed=0)
        natural = np.vstack([data.X_train, data.X_test])
        rng = np.random.default_rng(0)
        for kind in ("natural", "uniform"):
            monitor = Monitor(config)
            X_all = (
                natural[rng.integers(0, natural.shape[0], 10_000)]
                if kind == "natural"
                else data.feature_space.sample_uniform(10_000, rng)
            )
            start = time.perf_counter()
            for i in range(0, 10_000, 20):
                X = X_all[i : i + 20]
                monitor.observe(
                    client="c",
                    created=0.0,
                    ip="10.0.0.1",
                    model=name,
                    space=data.feature_space,
                    n_classes=10,
                    X=X,
                    proba=victim.predict_proba(X),
                    now=0.0,
                )
            seconds = time.perf_counter() - start
            stream = monitor.report("c")[0]
            per = {d: info["bytes"] for d, info in stream["detectors"].items()}
            rows_out.append(
                [
                    name,
                    str(data.n_features),
                    kind,
                    *[f"{per[d.name]:,}" for d in config.detectors],
                    f"{stream['bytes']:,}",
                    f"{1e6 * seconds / 10_000:.0f}",
                ]
            )
    print_table(
        "detector state of one client stream after 10,000 queries (bytes), and detector time per query",
        ["data", "d", "queries", *[d.name for d in config.detectors], "total", "µs/query"],
        rows_out,
        markdown=markdown,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp())
    data = load_dataset("digits")
    model_dir = save_model_dir(train_victim(data, "softmax", seed=0), data, root / "digits", seed=0)
    policy = root / "policy.yaml"
    policy.write_text(
        "tiers:\n  default:\n    key_limits: ['100000000/hour', '1000000000/day']\n"
        "    ip_limits: ['100000000/hour', '1000000000/day']\n    price_per_row: 0.001\n"
    )
    detecting = root / "detecting.yaml"
    detecting.write_text(policy.read_text() + "detection: {}\n")
    db_d = root / "gw-detect.db"
    store_d = Store(db_d)
    key_d = store_d.create_key("bench")
    store_d.close()
    db = root / "gw.db"
    store = Store(db)
    key = store.create_key("bench")
    store.close()
    port = free_port()
    bare = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bare_server.py")), str(model_dir), str(port)]
    )
    results = []
    detect_rows: list[list[str]] = []
    try:
        bare_url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(bare_url + "/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with (
            gateway_process([model_dir], db, policy=policy) as (gw_url, _),
            gateway_process([model_dir], db_d, policy=detecting) as (gd_url, _),
        ):
            auth = {"Authorization": f"Bearer {key}"}
            auth_d = {"Authorization": f"Bearer {key_d}"}
            for batch in (1, 100):
                rows = data.X_test[:batch].tolist()
                n_lat = args.requests if batch == 1 else args.requests // 4
                lat_b, lat_g, lat_d = latency(
                    [
                        (bare_url + "/predict", {}),
                        (gw_url + "/v1/models/digits/predict", auth),
                        (gd_url + "/v1/models/digits/predict", auth_d),
                    ],
                    rows,
                    n_lat,
                )
                detect_rows.append(
                    [
                        str(batch),
                        f"{1e3 * np.percentile(lat_g, 50):.2f}",
                        f"{1e3 * np.percentile(lat_d, 50):.2f}",
                        f"{1e3 * (np.percentile(lat_d, 50) - np.percentile(lat_g, 50)):.2f}",
                        f"{1e3 * np.percentile(lat_d, 99):.2f}",
                    ]
                )
                thr_b = throughput(bare_url + "/predict", {}, rows, n_lat)
                thr_g = throughput(gw_url + "/v1/models/digits/predict", auth, rows, n_lat)
                results.append((batch, lat_b, lat_g, thr_b, thr_g))
            inside = server_side_ms(gw_url)
            logged = Store(db).log(limit=10**9)
    finally:
        stop(bare)
    heads = [
        "batch",
        "bare p50 ms",
        "gateway p50 ms",
        "added p50 ms",
        "bare p99 ms",
        "gateway p99 ms",
        "bare rows/s",
        "gateway rows/s",
        "throughput ratio",
    ]
    cells = [
        [
            str(batch),
            f"{1e3 * np.percentile(lb, 50):.2f}",
            f"{1e3 * np.percentile(lg, 50):.2f}",
            f"{1e3 * (np.percentile(lg, 50) - np.percentile(lb, 50)):.2f}",
            f"{1e3 * np.percentile(lb, 99):.2f}",
            f"{1e3 * np.percentile(lg, 99):.2f}",
            f"{tb:,.0f}",
            f"{tg:,.0f}",
            f"{tg / tb:.2f}",
        ]
        for batch, lb, lg, tb, tg in results
    ]
    print(
        f"requests logged by the gateway: {len(logged)}; "
        f"mean time inside the gateway per request, model included: {inside:.2f} ms"
    )
    print_table(
        "gateway (all guards + SQLite log) vs bare FastAPI endpoint, digits softmax, loopback",
        heads,
        cells,
        markdown=args.markdown,
    )
    print_table(
        "p50 latency with every detector on (same alternation, same client)",
        [
            "batch",
            "gateway p50 ms",
            "gateway + detectors p50 ms",
            "added p50 ms",
            "gateway + detectors p99 ms",
        ],
        detect_rows,
        markdown=args.markdown,
    )
    detector_memory(args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
