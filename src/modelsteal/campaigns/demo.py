"""``make demo``: train victims on bundled data, steal them, print the table.

Everything runs on this machine in a minute or so; the model directories land in
``demo-out/`` (or the folder given as the first argument).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from rich.console import Console

from modelsteal.attacks import mlp_unknowns
from modelsteal.campaigns.experiment import steal_model_dir, steal_url
from modelsteal.cli import print_results
from modelsteal.datasets import load_csv, load_dataset
from modelsteal.datasets.examples import write_loans_csv
from modelsteal.datasets.thief import split_for_theft
from modelsteal.progress import Reporter
from modelsteal.victims import TrainOptions, save_model_dir, train_victim

# (label, data set, family, options, attack, budget)
PLAN: list[tuple[str, str, str, dict[str, Any], str, int]] = [
    ("breast_cancer logreg", "breast_cancer", "logreg", {}, "equation-solving", 31),
    ("digits softmax", "digits", "softmax", {}, "equation-solving", 65),
    ("loans.csv softmax", "loans", "softmax", {}, "equation-solving", 12),
    ("iris ovr", "iris", "ovr", {}, "equation-solving", 8),
    ("digits ovr", "digits", "ovr", {}, "equation-solving", 100),
    (
        "digits mlp relu",
        "digits",
        "mlp",
        {"activation": "relu"},
        "equation-solving",
        2 * mlp_unknowns(64, 20, 10),
    ),
    (
        "digits mlp tanh",
        "digits",
        "mlp",
        {"activation": "tanh"},
        "equation-solving",
        mlp_unknowns(64, 20, 10),
    ),
    ("digits tree", "digits", "tree", {}, "path-finding", 4000),
]

# learning attacks on a CNN trained on half of digits' training split; the other half is the
# thief's pool: (label, attack, options, budget)
LEARNING_PLAN: list[tuple[str, str, dict[str, Any], int]] = [
    ("digits cnn", "knockoff", {}, 500),
    ("digits cnn", "active", {"strategy": "mix"}, 500),
    ("digits cnn", "copycat", {}, 500),
]


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "demo-out")
    root.mkdir(parents=True, exist_ok=True)
    console = Console()
    csv_path = write_loans_csv(root / "loans.csv")
    rows = []
    start = time.perf_counter()
    with Reporter().stage(
        "training and stealing", total=len(PLAN) + len(LEARNING_PLAN) + 1, unit="steps"
    ) as stage:
        for label, dataset, family, options, attack, budget in PLAN:
            stage.note(f"{label}: training")
            data = load_csv(csv_path, "risk") if dataset == "loans" else load_dataset(dataset)
            victim = train_victim(data, family, seed=0, options=TrainOptions(**options))
            out = save_model_dir(
                victim, data, root / label.replace(" ", "-").replace(".csv", ""), seed=0, name=label
            )
            stage.note(f"{label}: stealing")
            result = steal_model_dir(out, attack, budget=budget, seed=0)
            summary = result.summary()
            summary["victim"] = label
            rows.append(summary)
            stage.step(f"{label}: {attack}, {result.queries} queries")
        stage.note("digits cnn: training on half the training split")
        digits = load_dataset("digits")
        owner, pool = split_for_theft(digits, victim_rows=digits.X_train.shape[0] // 2, random_state=0)
        cnn = train_victim(owner, "cnn", seed=0, options=TrainOptions(epochs=20))
        cnn.details["victim_rows"] = owner.X_train.shape[0]
        cnn_dir = save_model_dir(
            cnn,
            owner,
            root / "digits-cnn",
            seed=0,
            name="digits cnn",
            pool=(pool.X, pool.y, pool.description),
        )
        stage.step("digits cnn: trained")
        for label, attack, options, budget in LEARNING_PLAN:
            stage.note(f"{label}: stealing with {attack}")
            result = steal_model_dir(
                cnn_dir, attack, budget=budget, seed=0, options=options, pool="in-distribution"
            )
            summary = result.summary()
            summary["victim"] = label
            rows.append(summary)
            stage.step(f"{label}: {attack}, {result.queries} queries")
    print_results(
        rows,
        "modelsteal demo: Tramèr et al. 2016 (equation solving, path finding) and learning-based attacks "
        "(Knockoff Nets, ActiveThief, Copycat; thief pool: digits images the CNN never saw), in memory",
    )
    over_http(root, [r[0] for r in HTTP_PLAN], console)
    console.print(f"model directories in {root}/ ; total {time.perf_counter() - start:.1f} s")
    return 0


# (served name, attack, budget): stolen again through the gateway over HTTP
HTTP_PLAN = [
    ("breast_cancer logreg", "equation-solving", 31),
    ("digits softmax", "equation-solving", 65),
    ("loans.csv softmax", "equation-solving", 12),
    ("iris ovr", "equation-solving", 8),
    ("digits tree", "path-finding", 4000),
]

DEMO_POLICY = """
tiers:
  default:
    key_limits: ["10000/hour", "100000/day"]
    ip_limits: ["50000/hour", "500000/day"]
    price_per_row: 0.001
allow_missing: true
store_inputs: true
detection: {}   # every detector, default thresholds; actions flag (single_class logs)
"""


def _dir_name(label: str) -> str:
    return label.replace(" ", "-").replace(".csv", "")


def over_http(root: Path, labels: list[str], console: Console) -> None:
    """Serve the demo's victims from a gateway on a free loopback port and steal them over HTTP."""
    from modelsteal.gateway.process import gateway_process
    from modelsteal.gateway.store import Store
    from modelsteal.oracle.http import HTTPTransport

    db = root / "gateway.db"
    db.unlink(missing_ok=True)
    policy = root / "policy.yaml"
    policy.write_text(DEMO_POLICY)
    key = Store(db).create_key("demo-thief")
    dirs = [root / _dir_name(label) for label in labels]
    rows = []
    with (
        gateway_process(dirs, db, policy=policy) as (url, _),
        Reporter().stage(
            f"stealing over HTTP through the gateway at {url}", total=len(HTTP_PLAN), unit="steps"
        ) as stage,
    ):
        for label, attack, budget in HTTP_PLAN:
            result, _name, _family = steal_url(
                f"{url}/v1/models/{label.replace(' ', '%20')}",
                key,
                attack,
                budget=budget,
                seed=0,
                eval_dir=root / _dir_name(label),
            )
            summary = result.summary()
            summary["victim"] = label
            rows.append(summary)
            stage.step(f"{label}: {attack}, {result.queries} queries")
        transport = HTTPTransport(f"{url}/v1/models/digits%20softmax", key)
        usage = transport.usage()
        transport.close()
    print_results(rows, f"the same victims stolen over HTTP through the gateway ({url}, then stopped)")
    console.print(
        f"gateway usage of the demo key: {usage['requests']} requests, {usage['rows']} rows, "
        f"{usage['spent']:.3f} spent at {usage['price_per_row']} per row; query log in {db}"
    )
    store = Store(db)
    alarms = store.alarms("demo-thief")
    firsts: dict[tuple[str, str], int] = {}
    for a in alarms:
        firsts.setdefault((str(a["model"]), str(a["detector"])), int(a["at_row"]))
    console.print(
        f"the gateway's detectors flagged demo-thief: {store.client('demo-thief').flagged}; first alarms "
        + "; ".join(f"{model}: {det} at query {row}" for (model, det), row in firsts.items())
        + f" (replay offline: modelsteal audit --db {db})"
    )


if __name__ == "__main__":
    sys.exit(main())
