"""Adaptive misinformation (Kariyappa & Qureshi 2020) on the mnist5k CNN: what honest users
lose, what thieves keep at 1,000 queries.

Run: ``.venv/bin/python bench/misinformation.py [--markdown]`` (about eight minutes on 2 cores).

The owner trains three CNNs on 2,000 mnist5k images (20 epochs each): the plain victim;
the same network with Outlier Exposure on natural-image patches (``train --outlier-exposure
patches``, a seed apart from any thief's pool), which the method needs; and the
misinformation model (``train --misinformation``). The defended API serves the
Outlier-Exposure victim through ``adaptive_misinformation`` at several τ (ν = 1000).

Thieves spend 1,000 queries with Knockoff Nets (probabilities) and Copycat (top-1 labels),
drawing from four pools: natural-image patches (the same two photographs the owner cut
its outlier patches from, other crops), uniform noise, the digits data set resized into
MNIST's frame, and MNIST rows the victim never saw. The baseline is the plain victim, served
without any defence; "drop" is the plain victim's figure minus the defended one.
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
from modelsteal.datasets.thief import make_pool, split_for_theft
from modelsteal.defenses.misinformation import AdaptiveMisinformation
from modelsteal.defenses.transforms import protect
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.victims import TrainOptions, train_victim

TAUS = (0.5, 0.7, 0.9)
POOLS = ("patches", "uniform", "resized", "in-distribution")
ATTACKS = (("knockoff", "probabilities"), ("copycat", "label"))
BUDGET = 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables for README")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist5k")
    owner, in_dist = split_for_theft(data, victim_rows=2000, random_state=0)
    start = time.perf_counter()
    plain = train_victim(owner, "cnn", seed=0, options=TrainOptions(epochs=20))
    exposed = train_victim(owner, "cnn", seed=0, options=TrainOptions(epochs=20, outlier_exposure="patches"))
    wrong = train_victim(owner, "cnn", seed=1, options=TrainOptions(epochs=20, misinformation=True))
    print(f"three CNNs trained in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    pools = {
        kind: make_pool(kind, data, n=2000, random_state=0) for kind in POOLS if kind != "in-distribution"
    }
    pools["in-distribution"] = in_dist
    served = {"plain (no defence)": plain, "outlier exposure only": exposed}
    for tau in TAUS:
        served[f"AM τ={tau}"] = protect(exposed, [AdaptiveMisinformation(tau=tau, nu=1000.0, model=wrong)])
    ev = EvalSet.build(plain, data.X_test, data.y_test, data.feature_space, n_uniform=1000, random_state=1)

    def accuracy(model: object) -> float:
        return float(np.mean(model.predict(data.X_test) == data.y_test))  # type: ignore[attr-defined]

    rows, base = [], {}
    for name, model in served.items():
        benign = accuracy(model)
        row = [name, f"{100 * benign:.2f}"]
        for attack, output in ATTACKS:
            for kind in POOLS:
                oracle = Oracle(LocalTransport(model, output_mode=OutputMode(output)))  # type: ignore[arg-type]
                result = make_attack(attack, pool=pools[kind]).run(
                    oracle, budget=BUDGET, random_state=0, eval_set=ev
                )
                assert result.comparison is not None and result.comparison.accuracy_stolen is not None
                acc = result.comparison.accuracy_stolen
                if name.startswith("plain"):
                    base[(attack, kind)] = acc
                    row.append(f"{100 * acc:.1f}")
                else:
                    row.append(f"{100 * acc:.1f} ({100 * (base[(attack, kind)] - acc):+.1f})")
        if not name.startswith("plain"):
            row[1] += f" ({100 * (accuracy(plain) - benign):+.2f})"
        rows.append(row)
        print(f"done {name} at {time.perf_counter() - start:.0f} s", file=sys.stderr)
    heads = ["served", "benign accuracy % (drop)"]
    heads += [f"{a} {k}" for a, _ in ATTACKS for k in POOLS]
    print_table(
        f"Adaptive misinformation on the mnist5k CNN: clone accuracy % (drop) at {BUDGET} queries (this machine)",
        heads,
        rows,
        markdown=args.markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
