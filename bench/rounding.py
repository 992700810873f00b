"""Rounded confidences against equation solving (Tramèr et al. 2016, Figure 7).

Run: ``.venv/bin/python bench/rounding.py [--markdown]`` (about a minute).

The API rounds every probability to 2, 3, 4 or 5 decimals (or not at all). Linear
attacks get d+1 queries (the exact count) and 10(d+1) (least squares over more
equations); probabilities rounded to 0 carry no equation and are skipped. Each cell is
"1-R_test / 1-R_unif" in percent. Path finding (decision trees, top-down with incomplete
queries) reads leaf identities from rounded confidences or rounded probabilities; it gets
a budget of 20,000 queries and reports the leaves it found.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from modelsteal.attacks import make_attack, mlp_unknowns
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.errors import AttackFailed
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.victims import TrainOptions, train_victim

DECIMALS = (None, 5, 4, 3, 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    plan: list[tuple[str, str, str, str, int, dict[str, object]]] = []
    for dataset, family, attack in (
        ("breast_cancer", "logreg", "eq-logistic"),
        ("digits", "softmax", "eq-softmax"),
    ):
        d1 = load_dataset(dataset).n_features + 1
        plan.append((dataset, family, "relu", attack, d1, {}))
        plan.append((dataset, family, "relu", attack, 10 * d1, {"queries": 10 * d1}))
    plan.append(("iris", "ovr", "relu", "eq-ovr", 8, {}))
    plan.append(("iris", "ovr", "relu", "eq-ovr", 80, {"queries": 80}))
    plan.append(("digits", "tree", "relu", "path-finding", 20_000, {"mode": "confidence"}))
    plan.append(("digits", "tree", "relu", "path-finding", 20_000, {"mode": "probabilities"}))
    k = mlp_unknowns(64, 20, 10)
    plan.append(("digits", "mlp", "tanh", "eq-mlp", k, {}))
    plan.append(("digits", "mlp", "relu", "eq-mlp", 3 * k, {}))
    rows = []
    for dataset, family, activation, attack, budget, opts in plan:
        data = load_dataset(dataset)
        victim = train_victim(data, family, seed=0, options=TrainOptions(activation=activation))
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1
        )
        cells = []
        opts = dict(opts)
        kind = str(opts.pop("mode", "probabilities"))
        for decimals in DECIMALS:
            mode = OutputMode(kind, decimals=decimals)  # type: ignore[arg-type]
            oracle = Oracle(LocalTransport(victim, output_mode=mode))
            try:
                r = make_attack(attack, **opts).run(oracle, budget=budget, random_state=0, eval_set=ev)
                c = r.comparison
                assert c is not None
                cell = f"{100 * c.fidelity_test:.2f} / {100 * c.fidelity_uniform:.2f}"
                if attack == "path-finding":
                    cell += f" ({r.notes['leaves']} leaves, {r.queries} q)"
                cells.append(cell)
            except AttackFailed as exc:
                found = re.search(r"only (\d+) of (\d+) independent equations", str(exc))
                cells.append(
                    f"fails: {found[1]} of {found[2]} equations" if found else "fails: a 0 probability"
                )
        label = f"{dataset} {family}" + (f" {activation}" if family == "mlp" else "")
        if attack == "path-finding":
            label += f" ({kind})"
        rows.append([label, attack, str(budget), *cells])
        print(f"done {label} {budget}", file=sys.stderr)
    heads = ["victim", "attack", "queries", *["exact" if d is None else f"{d} decimals" for d in DECIMALS]]
    print_table(
        "equation solving and path finding against rounded answers: 1−R_test / 1−R_unif (%)",
        heads,
        rows,
        markdown=args.markdown,
    )
    print(f"total {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
