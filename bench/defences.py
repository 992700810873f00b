"""Answer-side defences against attacks that know them: what honest users lose, what thieves keep.

Run: ``.venv/bin/python bench/defences.py [--markdown]`` (about three minutes on 2 cores).
Writes ``bench/out/defences.png`` and ``.svg``.

Victim: a softmax on digits, trained on the owner's half of the training split (the other
half is the thief's in-distribution pool). Defences are tier transforms
(``defenses/transforms.py``), keyed per API key. For each defence:

* honest users: the mean total-variation distance between the defended and the plain
  answers on the test split, the share of labels kept, and the expected calibration error
  (ECE, 15 bins) against the test labels;
* thieves, each knowing the defence is there: exact equation solving at d+1 (65 queries);
  the averaging attacker, equation solving's least squares over 10(d+1) jittered points,
  against noise; Knockoff Nets with probabilities (600 queries of the pool); and
  label-only retraining (650 queries), which an argmax-preserving defence cannot touch.

This is the first part of issue 13's evaluation: one victim, the transforms built so far.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from modelsteal.attacks import make_attack
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.defenses.transforms import protect
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.report import print_table
from modelsteal.victims import train_victim

OUT = Path(__file__).resolve().parent / "out"

DEFENCES: list[tuple[str, list[dict[str, object]]]] = [
    ("none", []),
    ("noise σ=0.01", [{"noise": {"sigma": 0.01}}]),
    ("noise σ=0.05", [{"noise": {"sigma": 0.05}}]),
    ("noise σ=0.2", [{"noise": {"sigma": 0.2}}]),
    ("reverse sigmoid β=0.3 γ=0.2", [{"reverse_sigmoid": {"beta": 0.3, "gamma": 0.2}}]),
    ("reverse sigmoid β=0.7 γ=0.2", [{"reverse_sigmoid": {"beta": 0.7, "gamma": 0.2}}]),
]
#: (label, attack name, options, budget, output the thief asks for)
ATTACKS: list[tuple[str, str, dict[str, object], int, str]] = [
    ("eq-softmax d+1", "eq-softmax", {}, 65, "probabilities"),
    ("eq-softmax 10(d+1), averaging", "eq-softmax", {"queries": 650}, 650, "probabilities"),
    ("knockoff, probabilities", "knockoff", {"policy": "random"}, 600, "probabilities"),
    ("retrain-adaptive, labels", "retrain-adaptive", {}, 650, "label"),
]


def ece(P: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence."""
    conf, pred = P.max(axis=1), P.argmax(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(
                float(np.mean(pred[inside] == y[inside])) - float(conf[inside].mean())
            )
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables for README")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits")
    owner, pool = split_for_theft(data, random_state=0)
    victim = train_victim(owner, "softmax", seed=0)
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    plain = victim.predict_proba(data.X_test)
    cells, points = [], {}
    start = time.perf_counter()
    for name, spec in DEFENCES:
        honest = protect(victim, spec, key="honest").predict_proba(data.X_test)
        tv = float(0.5 * np.abs(honest - plain).sum(axis=1).mean())
        kept = float(np.mean(honest.argmax(axis=1) == plain.argmax(axis=1)))
        row = [name, f"{tv:.4f}", f"{100 * kept:.1f}%", f"{ece(honest, data.y_test):.3f}"]
        for label, attack, options, budget, output in ATTACKS:
            opts = dict(options)
            if attack == "knockoff":
                opts["pool"] = pool
            transport = LocalTransport(protect(victim, spec, key="thief"), output_mode=OutputMode(output))  # type: ignore[arg-type]
            result = make_attack(attack, **opts).run(
                Oracle(transport), budget=budget, random_state=0, eval_set=ev
            )
            assert result.comparison is not None
            fid = result.comparison.fidelity_test
            row.append(f"{100 * fid:.1f}%")
            points.setdefault(label, []).append((tv, fid))
        cells.append(row)
        print(f"done {name}", file=sys.stderr)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    heads = ["defence", "honest TV", "labels kept", "ECE", *[f"{a[0]} ({a[3]} q)" for a in ATTACKS]]
    print_table(
        "Utility against protection on digits softmax: attacker test fidelity (this machine)",
        heads,
        cells,
        markdown=args.markdown,
    )
    plot(points, [d[0] for d in DEFENCES])
    return 0


def plot(points: dict[str, list[tuple[float, float]]], names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 5))
    # one line per attack and defence family (none, then increasing strength): a line across
    # families would suggest an order that is not there
    families = [
        [i for i, n in enumerate(names) if n == "none" or n.startswith(f)] for f in ("noise", "reverse")
    ]
    for (label, pts), marker in zip(points.items(), "osD^", strict=True):
        for k, family in enumerate(families):
            xs = [pts[i][0] for i in family]
            ys = [100 * pts[i][1] for i in family]
            style = "-" if k == 0 else "--"
            ax.plot(
                xs,
                ys,
                marker=marker,
                linestyle=style,
                color=f"C{list(points).index(label)}",
                label=label if k == 0 else None,
            )
    ax.plot([], [], "k-", label="noise σ = 0.01, 0.05, 0.2")
    ax.plot([], [], "k--", label="reverse sigmoid β = 0.3, 0.7")
    for name, (x, _) in zip(names, points[next(iter(points))], strict=True):
        ax.annotate(name, (x, 2), rotation=60, fontsize=7, ha="left", va="bottom")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_xlabel("what honest users lose: mean TV distance of their answers (log scale)")
    ax.set_ylabel("attacker's test fidelity (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Answer-side defences on digits softmax: utility against protection")
    ax.legend(fontsize=8, loc="center left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"defences.{suffix}", dpi=130)
    print(f"wrote {OUT / 'defences.png'} and .svg", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
