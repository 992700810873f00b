"""Answer-side defences against attacks that know them: what honest users lose, what thieves keep.

Run: ``.venv/bin/python bench/defences.py [--markdown] [--quick]`` (about 25 minutes on 2
cores; ``--quick``: the two linear/MLP victims at 1,000 queries, one minute). Writes
``bench/out/defences.png`` and ``.svg`` (``defences-quick.*`` with ``--quick``).

Victims, each trained on the owner's half of the training split (the other half is the
thief's in-distribution pool): on digits a softmax, a 64-unit perceptron (scikit-learn)
and a decision tree (100 leaves); on mnist5k the CNN (2,000 training images, 20 epochs).
Defences are tier transforms (``defenses/transforms.py``), keyed per API key, played by
the engine of ``modelsteal defend-eval`` (``campaigns/defence_eval.py``). For each victim and
defence:

* honest users: the mean total-variation distance between the defended and the plain
  answers on the test split, the share of labels kept, the expected calibration error
  (ECE, 15 bins) against the test labels, and the transform's own CPU per row;
* thieves, each knowing the defence is there, at 250, 1,000 and 2,000 queries: exact
  equation solving (softmax only; it stops at d+1 = 65 queries); the averaging attacker,
  equation solving's least squares over 10(d+1) jittered points, against noise; Knockoff
  Nets with probabilities (test fidelity, and the TV distance of its probabilities to the
  victim's); the same Knockoff thief reading reverse sigmoid backwards with the published
  β, γ (``attacks/defence_aware.py``); and Copycat on top-1 labels, which an
  argmax-preserving defence cannot touch. Each cell gives the fidelity at 1,000 queries
  and the fewest queries that reached 90% fidelity.

``--more`` plays, instead, the thieves too slow for every budget, at one budget each and
against every defence: path finding on the digits tree (probabilities, 20,000 queries) and
active learning and semi-supervised extraction on the mnist5k CNN (1,000 queries); about
eight minutes.

Adaptive misinformation needs a CNN trained with Outlier Exposure: ``bench/misinformation.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from modelsteal.campaigns.defence_eval import TheftCell, describe_options, evaluate_tier, queries_to_target
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.defenses.transforms import parse_transforms
from modelsteal.metrics import EvalSet
from modelsteal.oracle import OutputMode
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
BUDGETS = (250, 1000, 2000)
SHOWN = 1000  # the budget whose fidelity the tables and the plot show
#: (column, attack, options, families it applies to)
THIEVES: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    ("eq-softmax", "eq-softmax", {}, ("softmax",)),
    ("eq-softmax 10(d+1), averaging", "eq-softmax", {"queries": 650}, ("softmax",)),
    ("knockoff", "knockoff", {"policy": "random"}, ("softmax", "mlp", "tree", "cnn")),
    ("copycat", "copycat", {}, ("softmax", "mlp", "tree", "cnn")),
]


@dataclass
class Victim:
    """What the engine needs of a model directory, for a victim in memory."""

    victim: Any
    card: dict[str, Any]
    X_eval: np.ndarray
    y_eval: np.ndarray


def play(
    holder: Victim,
    spec: list[dict[str, object]],
    attacks: list[tuple[str, dict[str, Any]]],
    budgets: Any,
    ev: EvalSet,
    plain_runs: dict[tuple[str, str, int], Any],
    *,
    aware: bool,
) -> tuple[Any, list[TheftCell]]:
    """One defence (a tier's transforms) against every thief, through defend-eval's engine."""
    return evaluate_tier(
        holder,
        parse_transforms(spec),
        OutputMode("probabilities"),
        attacks=attacks,
        budgets=budgets,
        eval_set=ev,
        aware=aware,
        plain_runs=plain_runs,
    )


def cell_text(cells: list[TheftCell], attack: str, options: dict[str, Any], thief: str) -> tuple[str, float]:
    described = describe_options(options)
    mine = [c for c in cells if c.attack == attack and c.thief == thief and c.options == described]
    if not mine:
        return "–", float("nan")
    shown = next(c for c in mine if c.budget == SHOWN)
    reach = queries_to_target(mine, attack, thief, defended=True, options=described)
    text = f"{100 * shown.fidelity_defended:.1f}%"
    if attack == "knockoff":
        text += f" / {shown.tv_defended:.3f}"
    text += f" ({reach if reach is not None else '>' + str(max(c.budget for c in mine))} q)"
    return text, shown.fidelity_defended


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables for README")
    parser.add_argument("--quick", action="store_true", help="softmax and MLP on digits at 1,000 queries")
    parser.add_argument("--more", action="store_true", help="path finding, active and semi-supervised only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.more:
        return more_thieves(args.markdown)
    budgets = (SHOWN,) if args.quick else BUDGETS
    victims: dict[str, tuple[Any, Any, Any]] = {}
    digits = load_dataset("digits")
    owner, pool = split_for_theft(digits, random_state=0)
    victims["digits softmax"] = (train_victim(owner, "softmax", seed=0), digits, pool)
    victims["digits mlp"] = (
        train_victim(owner, "mlp", seed=0, options=TrainOptions(hidden=64)),
        digits,
        pool,
    )
    if not args.quick:
        victims["digits tree"] = (train_victim(owner, "tree", seed=0), digits, pool)
        mnist = load_dataset("mnist5k")
        m_owner, m_pool = split_for_theft(mnist, victim_rows=2000, random_state=0)
        victims["mnist5k cnn"] = (
            train_victim(m_owner, "cnn", seed=0, options=TrainOptions(epochs=20)),
            mnist,
            m_pool,
        )
    points: dict[str, dict[str, list[tuple[float, float]]]] = {}
    start = time.perf_counter()
    for label, (victim, data, thief_pool) in victims.items():
        family = label.split()[-1]
        holder = Victim(victim, {"classes": list(data.class_names)}, data.X_test, data.y_test)
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=5000, random_state=1
        )
        attacks = [
            (attack, {**options, **({"pool": thief_pool} if attack in ("knockoff", "copycat") else {})})
            for _, attack, options, families in THIEVES
            if family in families
        ]
        rows = []
        plain_runs: dict[tuple[str, str, int], Any] = {}
        for name, spec in DEFENCES:
            honest, cells = play(
                holder, spec, attacks, budgets, ev, plain_runs, aware=name.startswith("reverse")
            )
            row = [
                name,
                f"{honest.tv:.4f}",
                f"{100 * honest.labels_kept:.1f}%",
                f"{honest.ece_defended:.3f}",
                f"{honest.us_per_row:.1f}",
            ]
            for column, attack, options, _ in THIEVES:
                text, fid = cell_text(cells, attack, options, "naive")
                row.append(text)
                if not np.isnan(fid):
                    points.setdefault(label, {}).setdefault(column, []).append((honest.tv, fid))
            row.append(cell_text(cells, "knockoff", {"policy": "random"}, "inverting")[0])
            rows.append(row)
            print(f"done {label} {name} at {time.perf_counter() - start:.0f} s", file=sys.stderr)
        heads = ["defence", "honest TV", "labels kept", "ECE", "µs/row"]
        heads += [f"{c[0]} at {SHOWN} q (q to 90%)" for c in THIEVES]
        heads.append(f"knockoff inverting reverse sigmoid at {SHOWN} q (q to 90%)")
        heads = [h.replace("knockoff at", "knockoff: fidelity / TV at") for h in heads]
        print_table(
            f"Utility against protection on {label}: attacker test fidelity (this machine)",
            heads,
            rows,
            markdown=args.markdown,
        )
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    plot(points, [d[0] for d in DEFENCES], "defences-quick" if args.quick else "defences")
    return 0


def more_thieves(markdown: bool) -> int:
    """Path finding on the digits tree; active and semi-supervised on the mnist5k CNN."""
    digits = load_dataset("digits")
    owner, _ = split_for_theft(digits, random_state=0)
    mnist = load_dataset("mnist5k")
    m_owner, m_pool = split_for_theft(mnist, victim_rows=2000, random_state=0)
    cases = [
        ("digits tree", train_victim(owner, "tree", seed=0), digits, [("path-finding", {})], 20_000),
        (
            "mnist5k cnn",
            train_victim(m_owner, "cnn", seed=0, options=TrainOptions(epochs=20)),
            mnist,
            [("active", {"pool": m_pool}), ("semi-supervised", {"pool": m_pool})],
            1000,
        ),
    ]
    start = time.perf_counter()
    for label, victim, data, attacks, budget in cases:
        holder = Victim(victim, {"classes": list(data.class_names)}, data.X_test, data.y_test)
        ev = EvalSet.build(
            victim, data.X_test, data.y_test, data.feature_space, n_uniform=5000, random_state=1
        )
        rows, plain_runs = [], {}
        for name, spec in DEFENCES:
            honest, cells = play(holder, spec, attacks, [budget], ev, plain_runs, aware=False)
            row = [name, f"{honest.tv:.4f}", f"{100 * honest.labels_kept:.1f}%"]
            for attack, _ in attacks:
                c = next(c for c in cells if c.attack == attack)
                row.append(
                    f"{100 * c.fidelity_plain:.1f}% → {100 * c.fidelity_defended:.1f}% ({c.queries} q)"
                )
            rows.append(row)
            print(f"done {label} {name} at {time.perf_counter() - start:.0f} s", file=sys.stderr)
        heads = ["defence", "honest TV", "labels kept"]
        heads += [f"{a} at {budget} q: fidelity plain → defended (queries sent)" for a, _ in attacks]
        print_table(f"More thieves on {label} (this machine)", heads, rows, markdown=markdown)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


def plot(points: dict[str, dict[str, list[tuple[float, float]]]], names: list[str], stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(1, len(points), figsize=(5.2 * len(points), 5), sharey=True, squeeze=False)
    # one line per attack and defence family (none, then increasing strength): a line across
    # families would suggest an order that is not there
    families = [("noise", "-"), ("reverse", "--"), ("MAD-argmax", ":"), ("MAD ", "-.")]
    labels = [c[0] for c in THIEVES]
    for ax, (victim, by_attack) in zip(axes[0], points.items(), strict=True):
        for label, pts in by_attack.items():
            colour, marker = f"C{labels.index(label)}", "osD^"[labels.index(label)]
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
        ax.set_xlabel("honest users' loss: mean TV of their answers (log)")
        ax.set_title(victim)
        ax.set_ylim(0, 105)
        ax.grid(alpha=0.3)
    for prefix, style in families:
        axes[0][0].plot([], [], "k" + style, label=prefix.strip() + " (stronger to the right)")
    axes[0][0].set_ylabel(f"attacker's test fidelity at {SHOWN} queries (%)")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle("Answer-side defences: utility against protection (this machine)")
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"{stem}.{suffix}", dpi=110)
    print(f"wrote {OUT / stem}.png and .svg", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
