"""Logistic models behind quantile binning (Amazon ML), beside Tramèr et al. 2016, Table 7.

Run: ``.venv/bin/python bench/feature_extraction.py [--markdown]`` (about a minute on 2 cores).

Each victim bins every number into K quantiles (one-hot; text columns stay one-hot) before
a logistic model and publishes only the raw schema. ``eq-binned`` finds every boundary by
line searches, then solves the model from the same answers. Columns: boundaries found (of
the binner's true ones), the largest distance of a found threshold below its true edge as
a share of the attack's ε times the range, queries, the paper's queries for that case
study, and both fidelities.
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
from modelsteal.datasets import Dataset, load_dataset
from modelsteal.datasets.examples import load_census
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.victims import TrainOptions, train_victim

#: Tramèr et al. 2016, Table 7 (the online attacks on Amazon ML): queries
PAPER = {
    "circles": "278 (Circles, binning)",
    "iris": "644 (Iris, binning)",
    "census": "1,485 (Adult, one-hot + binning)",
}


def load(name: str) -> Dataset:
    if name.startswith("census"):
        return load_census(classes=int(name[-1]), random_state=0)
    return load_dataset(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table for README")
    args = parser.parse_args()
    torch.set_num_threads(1)
    plan = [
        ("circles", "logreg", 10),
        ("iris", "softmax", 10),
        ("census2", "logreg", 10),
        ("census5", "softmax", 10),
        ("census2", "logreg", 50),
        ("census5", "softmax", 50),
    ]
    cells = []
    start = time.perf_counter()
    for name, family, k in plan:
        data = load(name)
        victim = train_victim(
            data, family, seed=0, options=TrainOptions(feature_extraction=f"quantile-bins:{k}")
        )
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1
        )
        attack = make_attack("eq-binned")
        result = attack.run(Oracle(LocalTransport(victim)), budget=5000, random_state=0, eval_set=ev)
        binner = victim.estimator.named_steps["encode"].named_transformers_["bins"]  # type: ignore[attr-defined]
        true = [edges[1:-1] for edges in binner.bin_edges_]
        found = list(result.model.binned_.items())
        worst = 0.0
        matched = 0
        for (j, thresholds), edges in zip(found, true, strict=True):
            width = attack.epsilon * (data.feature_space.upper[j] - data.feature_space.lower[j])  # type: ignore[attr-defined]
            if len(thresholds) == len(edges):
                matched += int(np.sum((thresholds < edges) & (edges - thresholds <= width)))
                worst = max(worst, float(np.max((edges - thresholds) / width, initial=0.0)))
        c = result.comparison
        assert c is not None
        cells.append(
            [
                name,
                family,
                str(k),
                f"{matched} of {sum(e.size for e in true)}",
                f"{worst:.2f}",
                str(result.queries),
                PAPER[name.rstrip("25")],
                f"{100 * c.fidelity_test:.2f}%",
                f"{100 * c.fidelity_uniform:.2f}%",
                f"{result.seconds:.2f}",
            ]
        )
        print(f"done {name} K={k}", file=sys.stderr)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    heads = [
        "victim",
        "model",
        "K",
        "boundaries",
        "max error / ε",
        "queries",
        "paper",
        "1−R_test",
        "1−R_unif",
        "seconds",
    ]
    print_table("eq-binned, ε = 1e-5 of each range (this machine)", heads, cells, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
