"""What DP-SGD and adversarial training cost the owner, and what they take from a thief.

Run: ``.venv/bin/python bench/training_defences.py [--markdown] [--quick]`` (about four
minutes on 2 cores; ``--quick``: digits only).

For each data set, a CNN trained on half the training rows (the other half is the thief's
pool): plain, with DP-SGD through Opacus at ε = 8, 4 and 1 (δ = 1e-5), and with PGD
adversarial training at ε = 0.1 of each feature's range. For each: its test accuracy, and
the test accuracy and fidelity of a Knockoff copy stolen with probabilities at 1,000
queries (seed 0) from the in-distribution pool. Each victim trains with the same seed.
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
from modelsteal.datasets.thief import split_for_theft
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.victims import TrainOptions, train_victim

SETTINGS: list[tuple[str, TrainOptions]] = [
    ("plain", TrainOptions()),
    ("DP-SGD ε=8", TrainOptions(dp_epsilon=8.0)),
    ("DP-SGD ε=4", TrainOptions(dp_epsilon=4.0)),
    ("DP-SGD ε=1", TrainOptions(dp_epsilon=1.0)),
    ("PGD adversarial ε=0.1", TrainOptions(adversarial_eps=0.1)),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--quick", action="store_true", help="digits only")
    parser.add_argument("--budget", type=int, default=1000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    for name in ("digits",) if args.quick else ("digits", "mnist5k"):
        data = load_dataset(name)
        owned, pool = split_for_theft(data, random_state=0)
        rows = []
        for label, options in SETTINGS:
            t0 = time.perf_counter()
            victim = train_victim(owned, "cnn", seed=0, options=options)
            seconds = time.perf_counter() - t0
            accuracy = float(np.mean(victim.predict(data.X_test) == data.y_test))
            result = make_attack("knockoff", pool=pool).run(
                Oracle(LocalTransport(victim)), budget=args.budget, random_state=0
            )
            copy = result.model.predict(data.X_test)
            fidelity = float(np.mean(copy == victim.predict(data.X_test)))
            copy_accuracy = float(np.mean(copy == data.y_test))
            spent = victim.details.get("dp_sgd", {}).get("epsilon_spent")
            rows.append(
                [
                    label,
                    f"{100 * accuracy:.1f}",
                    f"{seconds:.1f}",
                    "-" if spent is None else f"{spent:.2f}",
                    f"{100 * copy_accuracy:.1f}",
                    f"{100 * fidelity:.1f}",
                ]
            )
            print(f"{name}: {label} done", file=sys.stderr)
        print_table(
            f"Training-time defences on {name} (CNN, {owned.X_train.shape[0]} training rows; "
            f"Knockoff with probabilities, {args.budget} queries; this machine)",
            ["victim", "test accuracy %", "training s", "ε spent", "copy accuracy %", "copy fidelity %"],
            rows,
            markdown=args.markdown,
        )
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
