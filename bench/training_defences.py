"""What DP-SGD and adversarial training cost the owner, what they take from a thief, and what
they do to the owner's proof of theft.

Run: ``.venv/bin/python bench/training_defences.py [--markdown] [--quick]`` (about ten
minutes on 2 cores; ``--quick``: digits only).

For each data set, a CNN trained on half the training rows (the other half is the thief's
pool): plain, with DP-SGD through Opacus at ε = 8, 1, 0.5 and 0.1 (δ = 1e-5; the last two
are the mission's values; 0.1 with the PRV accountant, as RDP's conversion cannot reach it), and with PGD adversarial training at ε = 0.1 of each feature's
range. For each: its test accuracy; the test accuracy and fidelity of Knockoff copies
stolen with probabilities at 1,000 queries from the in-distribution pool (seeds 0, 1, 2;
the table gives seed 0's, as before, and the mean); and the ownership verdicts on those
copies: SAC-m with labels and with probabilities (100 queries), plain and relative to the
independents (``sac-m-relative``), against a null of 8
independent models (CNNs and perceptrons, plain training) on 80% shares of the thief's pool,
the rows the owner never saw. "convicted" counts copies with p < 0.01; the owner itself is
verified too, as the method's ceiling. SAC-w (the owner's mistakes among its test rows, at
most 100 queries) likewise. Each victim trains with the same seed.

A second table repeats every setting with an entangled watermark (``--watermark ewe``; 60
epochs on digits, 15 on mnist5k, as in ``bench/ownership.py``; under DP-SGD its patched rows
join the private rows without the entangling term) and verifies three Knockoff copies of
each by their answers to the 100 triggers, against the same independents. A third table
judges each DP owner's copies against 8 independents trained with DP-SGD at the
owner's own ε, the null that compares it with its peers; mnist5k too unless ``--quick``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from modelsteal.attacks import make_attack
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.ownership import Owner, build_zoo, load_zoo, make_method, null_distribution
from modelsteal.victims import TrainOptions, save_model_dir, train_victim
from modelsteal.victims.base import SklearnVictim


def ownership(victim: Any, copies: list[Any], data: Any, zoo: list[tuple[str, Any]]) -> list[str]:
    """Per method: copies convicted at ALPHA, their median p, and the owner's own p."""
    owner = Owner(victim, tuple(data.class_names), data.X_test, y_public=data.y_test)
    cells = []
    for name in METHODS:
        method = make_method(name, n_samples=100)
        evidence = method.prepare(owner, random_state=0)
        null = null_distribution(method, evidence, zoo)
        ps = [method.verify(evidence, Oracle(LocalTransport(c)), null, alpha=ALPHA).p_value for c in copies]
        own = method.verify(evidence, Oracle(LocalTransport(victim)), null, alpha=ALPHA).p_value
        convicted = sum(p < ALPHA for p in ps)
        cells.append(f"{convicted} of {len(ps)}; median p {np.median(ps):.2g}; owner p {own:.2g}")
    return cells


SETTINGS: list[tuple[str, TrainOptions]] = [
    ("plain", TrainOptions()),
    ("DP-SGD ε=8", TrainOptions(dp_epsilon=8.0)),
    ("DP-SGD ε=1", TrainOptions(dp_epsilon=1.0)),
    ("DP-SGD ε=0.5", TrainOptions(dp_epsilon=0.5)),
    # Opacus's RDP accountant cannot reach ε = 0.1 at δ = 1e-5; the PRV accountant can
    ("DP-SGD ε=0.1 (PRV accountant)", TrainOptions(dp_epsilon=0.1, dp_accountant="prv")),
    ("PGD adversarial ε=0.1", TrainOptions(adversarial_eps=0.1)),
]
SEEDS = (0, 1, 2)
ZOO_SIZE = 8
ALPHA = 0.01
METHODS = ("sac-m-labels", "sac-m", "sac-m-relative-labels", "sac-m-relative", "sac-w-labels", "sac-w")
#: the watermarked owners' epochs (bench/ownership.py's): EWE settles on digits' 673 rows only
#: after about 60
WATERMARK_EPOCHS = {"digits": 60, "mnist5k": 15}


#: data sets whose DP owners are judged by DP-trained independents too (32 extra DP trainings
#: each: seconds on digits, about six minutes on mnist5k)
DP_NULL = ("digits", "mnist5k")


def dp_zoo(owned: Any, pool: Any, options: TrainOptions) -> list[tuple[str, Any]]:
    """Independents trained as the DP owner was (same ε, accountant, epochs), each on its own
    80% share of the rows the owner never saw, with its own seed: the null that judges a DP
    owner by its peers rather than by plainly trained models."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(ZOO_SIZE):
        rows = rng.permutation(pool.X.shape[0])[: int(0.8 * pool.X.shape[0])]
        subset = dataclasses.replace(owned, X_train=pool.X[rows], y_train=pool.y[rows])
        out.append((f"dp-independent-{i}", train_victim(subset, "cnn", seed=1000 + i, options=options)))
    return out


def steal(victim: Any, pool: Any, data: Any, budget: int) -> tuple[list[Any], list[float], list[float]]:
    """Knockoff copies with probabilities, one per seed; their fidelity and test accuracy."""
    answers = victim.predict(data.X_test)
    copies, fidelities, accuracies = [], [], []
    for seed in SEEDS:
        result = make_attack("knockoff", pool=pool).run(
            Oracle(LocalTransport(victim)), budget=budget, random_state=seed
        )
        predicted = result.model.predict(data.X_test)
        fidelities.append(float(np.mean(predicted == answers)))
        accuracies.append(float(np.mean(predicted == data.y_test)))
        copies.append(SklearnVictim(result.model, data.feature_space, family="copy"))
    return copies, fidelities, accuracies


def watermark_row(
    label: str, options: TrainOptions, name: str, owned: Any, pool: Any, data: Any, zoo: Any, budget: int
) -> list[str]:
    """The setting with an entangled watermark: its cost, how well it took, and its verdicts on copies."""
    options = dataclasses.replace(options, watermark="ewe", epochs=WATERMARK_EPOCHS[name])
    victim = train_victim(owned, "cnn", seed=0, options=options)
    plain = train_victim(owned, "cnn", seed=0, options=dataclasses.replace(options, watermark=None))
    copies, fidelities, _ = steal(victim, pool, data, budget)
    method = make_method("watermark")
    owner = Owner(
        victim, tuple(data.class_names), data.X_test, watermark=victim.watermark, watermark_kind="ewe"
    )
    evidence = method.prepare(owner)
    null = null_distribution(method, evidence, zoo)
    ps = [method.verify(evidence, Oracle(LocalTransport(c)), null, alpha=ALPHA).p_value for c in copies]
    mark = victim.details["watermark"]
    return [
        label,
        f"{100 * np.mean(plain.predict(data.X_test) == data.y_test):.1f}",
        f"{100 * np.mean(victim.predict(data.X_test) == data.y_test):.1f}",
        f"{100 * mark['trigger_accuracy']:.0f}",
        f"{mark['snnl_weight']:g}",
        f"{100 * np.mean(fidelities):.1f}",
        f"{sum(p < ALPHA for p in ps)} of {len(ps)}; median p {np.median(ps):.2g}",
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
        with tempfile.TemporaryDirectory(prefix="bench-zoo-") as tmp:
            # the null: independents on the rows the owner never saw (the pool), plain training
            plain = train_victim(owned, "cnn", seed=0)
            owner_dir = save_model_dir(
                plain, owned, Path(tmp) / "owner", seed=0, pool=(pool.X, pool.y, "pool")
            )
            build_zoo(owner_dir, size=ZOO_SIZE, families=["cnn", "mlp"], random_state=0)
            zoo = load_zoo(owner_dir / "zoo")
        rows, marked, fair = [], [], []
        for label, options in SETTINGS:
            t0 = time.perf_counter()
            victim = train_victim(owned, "cnn", seed=0, options=options)
            seconds = time.perf_counter() - t0
            accuracy = float(np.mean(victim.predict(data.X_test) == data.y_test))
            copies, fidelities, copy_accuracies = steal(victim, pool, data, args.budget)
            spent = victim.details.get("dp_sgd", {}).get("epsilon_spent")
            rows.append(
                [
                    label,
                    f"{100 * accuracy:.1f}",
                    f"{seconds:.1f}",
                    "-" if spent is None else f"{spent:.2f}",
                    f"{100 * copy_accuracies[0]:.1f} ({100 * np.mean(copy_accuracies):.1f})",
                    f"{100 * fidelities[0]:.1f} ({100 * np.mean(fidelities):.1f})",
                    *ownership(victim, copies, data, zoo),
                ]
            )
            marked.append(watermark_row(label, options, name, owned, pool, data, zoo, args.budget))
            if name in DP_NULL and options.dp_epsilon is not None:  # judged by its peers
                fair.append([label, *ownership(victim, copies, data, dp_zoo(owned, pool, options))])
            print(f"{name}: {label} done", file=sys.stderr)
        print_table(
            f"Training-time defences on {name} (CNN, {owned.X_train.shape[0]} training rows; "
            f"Knockoff with probabilities, {args.budget} queries, seeds {', '.join(map(str, SEEDS))}; "
            f"ownership against {ZOO_SIZE} independents at α = {ALPHA}; this machine)",
            [
                "victim",
                "test accuracy %",
                "training s",
                "ε spent",
                "copy accuracy % seed 0 (mean)",
                "copy fidelity % seed 0 (mean)",
                *[f"{m}: copies convicted" for m in METHODS],
            ],
            rows,
            markdown=args.markdown,
        )
        print_table(
            f"The same settings with an entangled watermark on {name} ({WATERMARK_EPOCHS[name]} epochs; "
            f"Knockoff with probabilities, {args.budget} queries, seeds {', '.join(map(str, SEEDS))}; "
            f"100 triggers against {ZOO_SIZE} independents at α = {ALPHA})",
            [
                "victim",
                "test accuracy % without the watermark",
                "test accuracy % with it",
                "triggers kept %",
                "entangling weight",
                "copy fidelity % (mean)",
                "watermark: copies convicted",
            ],
            marked,
            markdown=args.markdown,
        )
        if fair:
            print_table(
                f"The DP owners' copies on {name} judged against {ZOO_SIZE} independents trained with DP-SGD "
                f"at the owner's ε (CNNs on 80% shares of the pool; α = {ALPHA})",
                ["victim", *[f"{m}: copies convicted" for m in METHODS]],
                fair,
                markdown=args.markdown,
            )
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
