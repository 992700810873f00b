"""Label-only attacks: fidelity against budget, per strategy and victim family.

Run: ``.venv/bin/python bench/label_only.py [--markdown]`` (a few minutes on 2 cores).

Budgets are 1, 5, 10, 20, 50 and 100 times d+1 (equation solving's count). The API
answers with top-1 labels only. Each cell is "1-R_test / 1-R_unif" in percent.
"Majority" is the share of uniform points the victim puts in its most frequent class:
when it is near 100%, a copy that answers that class everywhere already scores that much
on uniform points, so 1-R_unif says little there. Lowd–Meek's own query count follows,
beside Tramèr et al.'s remark that it costs about 50 times equation solving.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from modelsteal.attacks import make_attack
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.errors import AttackFailed
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.victims import train_victim

MULTIPLES = (1, 5, 10, 20, 50, 100)
VICTIMS = [
    ("breast_cancer", "logreg"),
    ("moons", "logreg"),
    ("moons", "mlp"),
    ("moons", "svm-rbf"),
    ("circles", "svm-rbf"),
    ("blobs", "softmax"),
]
STRATEGIES = ("retrain-uniform", "retrain-linesearch", "retrain-adaptive")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    rows = []
    lowd = []
    for dataset, family in VICTIMS:
        data = load_dataset(dataset)
        victim = train_victim(data, family, seed=0)
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1
        )
        majority = float(np.bincount(ev.victim_uniform.argmax(axis=1)).max() / ev.victim_uniform.shape[0])
        unit = data.n_features + 1
        for strategy in STRATEGIES:
            cells = []
            for m in MULTIPLES:
                oracle = Oracle(LocalTransport(victim, output_mode=OutputMode("label")))
                try:
                    r = make_attack(strategy).run(oracle, budget=m * unit, random_state=0, eval_set=ev)
                    c = r.comparison
                    assert c is not None
                    cells.append(f"{100 * c.fidelity_test:.1f} / {100 * c.fidelity_uniform:.1f}")
                except AttackFailed:
                    cells.append("failed")
            rows.append([f"{dataset} {family}", f"{100 * majority:.1f}%", strategy, *cells])
            print(f"done {dataset} {family} {strategy}", file=sys.stderr)
        if family == "logreg":
            attack = make_attack("lowd-meek")
            oracle = Oracle(LocalTransport(victim, output_mode=OutputMode("label")))
            budget = attack.min_queries(oracle.info) + 100
            r = attack.run(oracle, budget=budget, random_state=0, eval_set=ev)
            c = r.comparison
            assert c is not None
            lowd.append(
                [
                    f"{dataset} {family}",
                    str(r.queries),
                    f"{r.queries / unit:.1f}",
                    f"{100 * c.fidelity_test:.2f}%",
                    f"{100 * c.fidelity_uniform:.2f}%",
                ]
            )
    heads = ["victim", "majority", "strategy", *[f"{m}(d+1)" for m in MULTIPLES]]
    print_table(
        "label-only retraining: 1−R_test / 1−R_unif (%) by budget", heads, rows, markdown=args.markdown
    )
    print_table(
        "Lowd–Meek (labels only; paper: about 50× the d+1 of equation solving)",
        ["victim", "queries", "queries/(d+1)", "1−R_test", "1−R_unif"],
        lowd,
        markdown=args.markdown,
    )
    print(f"total {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
