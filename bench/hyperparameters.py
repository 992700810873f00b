"""Stealing the regularisation strength C (Wang & Gong 2018) after equation solving.

Run: ``.venv/bin/python bench/hyperparameters.py [--markdown]`` (about a minute on 2 cores).

For each data set, family and true C: the victim is trained with scikit-learn's defaults
(lbfgs, tol 1e-4) at that C, stolen by equation solving at d+1 queries (one-vs-rest at
4(d+1)), and C is estimated from the stolen weights and the training rows. The residual
‖w + C·G‖/‖w‖ tells how far the learner stopped from its optimum; past 0.1 the estimate
is biased by that early stop, not by the attack.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from modelsteal.attacks import make_attack
from modelsteal.attacks.hyperparameters import steal_regularisation
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import Dataset, load_csv, load_dataset
from modelsteal.datasets.examples import load_census, write_loans_csv
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.victims import TrainOptions, train_victim

ATTACK = {"logreg": "eq-logistic", "softmax": "eq-softmax", "ovr": "eq-ovr"}


def load(name: str) -> Dataset:
    if name == "loans.csv":
        return load_csv(write_loans_csv(Path(tempfile.mkdtemp()) / "loans.csv"), "risk", name="loans.csv")
    if name.startswith("census"):
        return load_census(classes=int(name[-1]), random_state=0)
    return load_dataset(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table for README")
    args = parser.parse_args()
    torch.set_num_threads(1)
    plan = [
        ("breast_cancer", "logreg"),
        ("iris", "softmax"),
        ("wine", "softmax"),
        ("digits", "softmax"),
        ("loans.csv", "softmax"),
        ("iris", "ovr"),
        ("census2", "logreg"),
        ("census5", "softmax"),
    ]
    cells = []
    start = time.perf_counter()
    for name, family in plan:
        data = load(name)
        for C in (0.1, 1.0, 10.0):
            victim = train_victim(data, family, seed=0, options=TrainOptions(C=C))
            budget = data.n_features + 1 if family != "ovr" else 4 * (data.n_features + 1)
            result = make_attack(ATTACK[family]).run(
                Oracle(LocalTransport(victim)), budget=budget, random_state=0
            )
            t0 = time.perf_counter()
            estimate = steal_regularisation(result.model, data.X_train, data.y_train, data.feature_space)
            seconds = time.perf_counter() - t0
            estimates = list(estimate.values()) if isinstance(estimate, dict) else [estimate]
            worst = max(estimates, key=lambda e: abs(e.C - C))
            cells.append(
                [
                    name,
                    family + (" (worst class)" if isinstance(estimate, dict) else ""),
                    f"{C:g}",
                    f"{worst.C:.4f}",
                    f"{100 * abs(worst.C - C) / C:.2f}%",
                    f"{worst.residual:.3f}",
                    str(result.queries),
                    f"{seconds:.2f}",
                ]
            )
            print(f"done {name} {family} C={C:g}", file=sys.stderr)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    heads = ["data set", "victim", "true C", "stolen C", "error", "residual", "queries", "seconds"]
    print_table(
        "Regularisation stolen after equation solving (this machine)", heads, cells, markdown=args.markdown
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
