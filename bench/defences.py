"""Answer-side defences against attacks that know them: what honest users lose, what thieves keep.

Run: ``.venv/bin/python bench/defences.py [--markdown]`` (about a minute on 2 cores).
Writes ``bench/out/defences.png`` and ``.svg``.

Victims: a softmax and a one-hidden-layer perceptron (scikit-learn, 64 units) on digits,
each trained on the owner's half of the training split (the other half is the thief's
in-distribution pool). Defences are tier transforms (``defenses/transforms.py``), keyed per
API key. For each victim and defence:

* honest users: the mean total-variation distance between the defended and the plain
  answers on the test split, the share of labels kept, the expected calibration error
  (ECE, 15 bins) against the test labels, and the transform's own CPU per row;
* thieves, each knowing the defence is there: exact equation solving at d+1 (65 queries,
  softmax only); the averaging attacker, equation solving's least squares over 10(d+1)
  jittered points, against noise; Knockoff Nets with probabilities (1,000 queries of the
  pool: test fidelity and the TV distance of its probabilities to the victim's); the same
  Knockoff thief reading reverse sigmoid backwards with the published β, γ
  (``attacks/defence_aware.py``); and Copycat on top-1 labels (1,000 queries), which an
  argmax-preserving defence cannot touch.

Adaptive misinformation needs a CNN trained with Outlier Exposure: ``bench/misinformation.py``.
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
from modelsteal.attacks.defence_aware import InvertingTransport
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.defenses.transforms import protect
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.report import print_table
from modelsteal.victims import TrainOptions, train_victim

OUT = Path(__file__).resolve().parent / "out"

DEFENCES: list[tuple[str, list[dict[str, object]]]] = [
    ("none", []),
    ("noise σ=0.01", [{"noise": {"sigma": 0.01}}]),
    ("noise σ=0.05", [{"noise": {"sigma": 0.05}}]),
    ("noise σ=0.2", [{"noise": {"sigma": 0.2}}]),
    ("reverse sigmoid β=0.3 γ=0.2", [{"reverse_sigmoid": {"beta": 0.3, "gamma": 0.2}}]),
    ("reverse sigmoid β=0.7 γ=0.2", [{"reverse_sigmoid": {"beta": 0.7, "gamma": 0.2}}]),
    ("MAD-argmax ε=0.5", [{"mad": {"epsilon": 0.5, "argmax": True}}]),
    ("MAD-argmax ε=1.0", [{"mad": {"epsilon": 1.0, "argmax": True}}]),
    ("MAD ε=1.0", [{"mad": {"epsilon": 1.0}}]),
]
BUDGET = 1000
#: (label, attack name, options, budget, output the thief asks for, families it applies to)
ATTACKS: list[tuple[str, str, dict[str, object], int, str, tuple[str, ...]]] = [
    ("eq-softmax d+1", "eq-softmax", {}, 65, "probabilities", ("softmax",)),
    ("eq-softmax 10(d+1), averaging", "eq-softmax", {"queries": 650}, 650, "probabilities", ("softmax",)),
    (
        "knockoff, probabilities",
        "knockoff",
        {"policy": "random"},
        BUDGET,
        "probabilities",
        ("softmax", "mlp"),
    ),
    ("copycat, labels", "copycat", {}, BUDGET, "label", ("softmax", "mlp")),
]
#: the Knockoff thief who inverts reverse sigmoid (only where the defence is reverse sigmoid)
AWARE = "knockoff, inverting reverse sigmoid"
COLUMNS = [
    *ATTACKS[:3],
    (AWARE, "knockoff", {"policy": "random"}, BUDGET, "probabilities", ("softmax", "mlp")),
    ATTACKS[3],
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


def transform_cost(victim: object, spec: list[dict[str, object]], X: np.ndarray) -> float:
    """The transforms' own CPU per row, in microseconds (the model's answer excluded)."""
    defended = protect(victim, spec, key="honest")
    P = np.asarray(victim.predict_proba(X))  # type: ignore[attr-defined]
    defended.transforms and defended.transforms[0].apply(P[:5], X[:5], "warm")  # first-call set-up
    start = time.process_time()
    for transform in defended.transforms:
        P = transform.apply(P, X, "honest")
    return 1e6 * (time.process_time() - start) / X.shape[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables for README")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits")
    owner, pool = split_for_theft(data, random_state=0)
    victims = {
        "softmax": train_victim(owner, "softmax", seed=0),
        "mlp": train_victim(owner, "mlp", seed=0, options=TrainOptions(hidden=64)),
    }
    points: dict[str, dict[str, list[tuple[float, float]]]] = {}
    start = time.perf_counter()
    for family, victim in victims.items():
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1
        )
        plain = victim.predict_proba(data.X_test)
        cells = []
        for name, spec in DEFENCES:
            honest = protect(victim, spec, key="honest").predict_proba(data.X_test)
            tv = float(0.5 * np.abs(honest - plain).sum(axis=1).mean())
            kept = float(np.mean(honest.argmax(axis=1) == plain.argmax(axis=1)))
            cost = transform_cost(victim, spec, data.X_test)
            row = [name, f"{tv:.4f}", f"{100 * kept:.1f}%", f"{ece(honest, data.y_test):.3f}", f"{cost:.1f}"]
            for label, attack, options, budget, output, families in COLUMNS:
                if family not in families or (label == AWARE and not name.startswith("reverse")):
                    row.append("–")
                    continue
                opts = dict(options)
                if attack in ("knockoff", "copycat"):
                    opts["pool"] = pool
                transport: object = LocalTransport(
                    protect(victim, spec, key="thief"),
                    output_mode=OutputMode(output),  # type: ignore[arg-type]
                )
                if label == AWARE:
                    transport = InvertingTransport(transport, spec[0])  # type: ignore[arg-type]
                result = make_attack(attack, **opts).run(
                    Oracle(transport),  # type: ignore[arg-type]
                    budget=budget,
                    random_state=0,
                    eval_set=ev,
                )
                assert result.comparison is not None
                fid = result.comparison.fidelity_test
                if output == "probabilities" and attack == "knockoff":
                    row.append(f"{100 * fid:.1f}% / {result.comparison.tv_test:.3f}")
                else:
                    row.append(f"{100 * fid:.1f}%")
                if label != AWARE:
                    points.setdefault(family, {}).setdefault(label, []).append((tv, fid))
            cells.append(row)
            print(f"done {family} {name} at {time.perf_counter() - start:.0f} s", file=sys.stderr)
        heads = ["defence", "honest TV", "labels kept", "ECE", "µs/row"]
        for label, _, _, budget, _, _ in COLUMNS:
            heads.append(f"{label} ({budget} q)" + (": fidelity / TV" if "knockoff" in label else ""))
        print_table(
            f"Utility against protection on digits {family}: attacker test fidelity (this machine)",
            heads,
            cells,
            markdown=args.markdown,
        )
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    plot(points, [d[0] for d in DEFENCES])
    return 0


def plot(points: dict[str, dict[str, list[tuple[float, float]]]], names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, len(points), figsize=(13, 5), sharey=True, squeeze=False)
    # one line per attack and defence family (none, then increasing strength): a line across
    # families would suggest an order that is not there
    families = [("noise", "-"), ("reverse", "--"), ("MAD-argmax", ":"), ("MAD ", "-.")]
    labels = [c[0] for c in COLUMNS if c[0] != AWARE]
    for ax, (victim, by_attack) in zip(axes[0], points.items(), strict=True):
        for label, pts in by_attack.items():
            colour = f"C{labels.index(label)}"
            marker = "osD^"[labels.index(label)]
            for prefix, style in families:
                idx = [i for i, n in enumerate(names) if n == "none" or n.startswith(prefix)]
                ax.plot(
                    [pts[i][0] for i in idx],
                    [100 * pts[i][1] for i in idx],
                    marker=marker,
                    linestyle=style,
                    color=colour,
                    label=label if prefix == "noise" else None,
                )
        ax.set_xscale("symlog", linthresh=1e-3)
        ax.set_xlabel("what honest users lose: mean TV distance of their answers (log scale)")
        ax.set_title(f"digits {victim}")
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
    for prefix, style in families:
        axes[0][0].plot([], [], "k" + style, label=prefix.strip() + " (stronger to the right)")
    axes[0][0].set_ylabel("attacker's test fidelity (%)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.suptitle("Answer-side defences: utility against protection (this machine)")
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"defences.{suffix}", dpi=130)
    print(f"wrote {OUT / 'defences.png'} and .svg", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
