"""Does a margin watermark survive extraction with labels, and what does it cost?

Run: ``.venv/bin/python bench/margin_watermark.py [--markdown] [--quick] [--zoo N]``
(``--quick``: digits only).

The issue asks the margin-based watermark (Kim et al., ICML 2023) to reach p ≤ 2^-64 on a
copy extracted with labels, from 100 trigger queries, at a clean-accuracy cost of at most
one point. For each data set (digits at 60 epochs, mnist5k at 15, as the owners of
``bench/ownership.py``) a CNN is trained on half the training rows, plainly and with each
watermark below, all with seed 0:

* ``trigger``: 100 uniform inputs with random labels (Adi et al. 2018);
* ``margin`` with uniform triggers, at radius 0.1 (our default) and 0.02 of the range;
* ``margin`` with **natural** triggers, Kim et al.'s construction: 100 of the owner's
  training rows, each relabelled to another class and taken out of the clean training
  set, at radius 0.02 (the paper's: five steps of 1/255) and 0.1;
* ``trigger`` with natural triggers (no margin), to show what the margin adds.

For each owner: its test accuracy and the cost against the plain CNN; the triggers it
answers with their label; and **the extra errors it makes on the thief's pool** (pool rows
it gets wrong that the plain CNN gets right). A thief who asks natural rows learns a
watermark label only from answers like those, and each one is a wrong answer an honest
user of the same distribution would get too.

Thieves: Knockoff with labels at 1,000 queries and over the whole pool, and with
probabilities over the whole pool (distillation). Each copy is asked the 100 triggers and
tested exactly against each trigger's chance rate among ``--zoo`` independents (CNNs and
perceptrons on 80% shares of the pool; ``ownership/api_watermark.py``). With no independent
matching, a trigger's chance rate is 1/(N + 2): 2^-64 then needs 34 matches of 100 against
20 independents, 20 against 100. A plot (``bench/out/margin_watermark.png``) puts each
copy's matches against its owner's cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
from scipy import stats

from modelsteal.attacks import make_attack
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.ownership import Owner, build_zoo, load_zoo, make_method, null_distribution
from modelsteal.victims import TrainOptions, save_model_dir, train_victim
from modelsteal.victims.base import SklearnVictim

sys.path.insert(0, str(Path(__file__).parent))
from ownership import OWNER_EPOCHS  # the owners of bench/ownership.py, trained as long

OUT = Path(__file__).parent / "out"
#: label, watermark kind, trigger source, margin radius
SETTINGS: list[tuple[str, str, str, float]] = [
    ("trigger, uniform", "trigger", "uniform", 0.1),
    ("margin 0.1, uniform (ours)", "margin", "uniform", 0.1),
    ("margin 0.02, uniform", "margin", "uniform", 0.02),
    ("trigger, natural", "trigger", "natural", 0.1),
    ("margin 0.02, natural (Kim et al.)", "margin", "natural", 0.02),
    ("margin 0.1, natural", "margin", "natural", 0.1),
]
#: the thieves: label, output mode, budget (None: the whole pool)
THIEVES: list[tuple[str, str, int | None]] = [
    ("labels 1000", "label", 1000),
    ("labels whole pool", "label", None),
    ("proba whole pool", "probabilities", None),
]
TWO_TO_THE_MINUS_64 = 2.0**-64


def matches_needed(independents: int, triggers: int = 100) -> int:
    """Fewest matches of ``triggers`` whose exact p is at most 2^-64 when no independent matches."""
    rate = 1.0 / (independents + 2)
    return next(
        k for k in range(triggers + 1) if stats.binom.sf(k - 1, triggers, rate) <= TWO_TO_THE_MINUS_64
    )


def run(name: str, zoo_size: int, workdir: Path) -> tuple[list[list[str]], dict[str, Any]]:
    data = load_dataset(name)
    owned, pool = split_for_theft(data, random_state=0)
    epochs = OWNER_EPOCHS[name]
    plain = train_victim(owned, "cnn", seed=0, options=TrainOptions(epochs=epochs))
    owner_dir = save_model_dir(plain, owned, workdir / f"{name}-plain", seed=0, pool=(pool.X, pool.y, "pool"))
    started = time.perf_counter()
    build_zoo(owner_dir, size=zoo_size, random_state=0)
    zoo = load_zoo(owner_dir / "zoo")
    print(f"{name}: zoo of {len(zoo)} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    plain_acc = float(np.mean(plain.predict(data.X_test) == data.y_test))
    plain_pool_right = plain.predict(pool.X) == pool.y
    method = make_method("watermark")
    rows = []
    points: list[dict[str, Any]] = []
    for label, kind, source, radius in SETTINGS:
        t0 = time.perf_counter()
        options = TrainOptions(
            epochs=epochs, watermark=kind, watermark_triggers=source, watermark_margin=radius
        )
        victim = train_victim(owned, "cnn", seed=0, options=options)
        acc = float(np.mean(victim.predict(data.X_test) == data.y_test))
        extra = int(np.sum(plain_pool_right & (victim.predict(pool.X) != pool.y)))
        owner = Owner(
            victim, tuple(data.class_names), data.X_test, watermark=victim.watermark, watermark_kind=kind
        )
        evidence = method.prepare(owner)
        null = null_distribution(method, evidence, zoo)
        cells = [
            label,
            f"{100 * acc:.1f}",
            f"{100 * (plain_acc - acc):+.1f}",
            f"{100 * victim.details['watermark']['trigger_accuracy']:.0f}",
            f"{extra} of {pool.X.shape[0]}",
        ]
        point: dict[str, Any] = {"setting": label, "cost": 100 * (plain_acc - acc), "matches": {}}
        for thief, mode, budget in THIEVES:
            result = make_attack("knockoff", pool=pool).run(
                Oracle(LocalTransport(victim, output_mode=OutputMode(mode)), max_batch=500),
                budget=budget or pool.X.shape[0],
                random_state=0,
            )
            copy = SklearnVictim(result.model, data.feature_space, family="copy")
            verdict = method.verify(evidence, Oracle(LocalTransport(copy)), null, alpha=0.01)
            cells.append(f"{verdict.details['matches']}; p {verdict.p_value:.2g}")
            point["matches"][thief] = verdict.details["matches"]
        points.append(point)
        own = method.verify(evidence, Oracle(LocalTransport(victim)), null, alpha=0.01)
        cells.append(f"{own.details['matches']}; p {own.p_value:.2g}")
        cells.append(f"{100 * own.false_accusation_rate:.0f}%")
        rows.append(cells)
        print(f"{name}: {label} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    meta = {
        "plain": plain_acc,
        "rows": owned.X_train.shape[0],
        "pool": pool.X.shape[0],
        "epochs": epochs,
        "points": points,
    }
    return rows, meta


def plot(metas: dict[str, dict[str, Any]], need: int, zoo: int) -> Path:
    """Matches of the label and probability copies against the owner's cost, per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metas), figsize=(6.5 * len(metas), 5.4), squeeze=False)
    markers = {"labels 1000": "o", "labels whole pool": "s", "proba whole pool": "^"}
    for ax, (name, meta) in zip(axes[0], metas.items(), strict=True):
        for i, point in enumerate(meta["points"]):
            for thief, marker in markers.items():
                ax.scatter(
                    point["cost"],
                    point["matches"][thief],
                    marker=marker,
                    color=f"C{i}",
                    label=point["setting"] if thief == "labels 1000" else None,
                )
        ax.axhline(need, color="black", ls="--", lw=0.8)
        ax.text(0.0, need + 0.6, f"$2^{{-64}}$ against {zoo} independents: {need} matches", fontsize=8)
        ax.axvline(1.0, color="grey", ls=":", lw=0.8)
        ax.text(1.2, 1, "cost 1 point", fontsize=8, color="grey")
        ax.set_xlabel("owner's clean-accuracy cost, points (plain − watermarked)")
        ax.set_ylabel("copy's matches of the 100 triggers")
        ax.set_title(
            f"{name}: circles labels 1,000, squares labels pool, triangles probabilities pool", fontsize=9
        )
        ax.set_ylim(0, max(need + 6, max(max(p["matches"].values()) for p in meta["points"]) + 4))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    path = OUT / "margin_watermark.png"
    OUT.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--quick", action="store_true", help="digits only")
    parser.add_argument("--zoo", type=int, default=20, help="independent models (default 20)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    need = matches_needed(args.zoo)
    metas = {}
    with tempfile.TemporaryDirectory(prefix="bench-margin-") as tmp:
        for name in ("digits",) if args.quick else ("digits", "mnist5k"):
            rows, meta = run(name, args.zoo, Path(tmp))
            metas[name] = meta
            print_table(
                f"Watermarks on {name} (CNN, {meta['rows']} training rows, {meta['epochs']} epochs; plain "
                f"{100 * meta['plain']:.1f}%): Knockoff copies' matches of the 100 triggers and exact p against "
                f"{args.zoo} independents (2^-64 needs {need} matches when none of them matches)",
                [
                    "watermark",
                    "test accuracy %",
                    "cost, points",
                    "triggers kept %",
                    "extra errors on the thief's pool",
                    *[f"copy, {label}" for label, _, _ in THIEVES],
                    "the owner itself",
                    "independents accused at 0.01",
                ],
                rows,
                markdown=args.markdown,
            )
    print(f"wrote {plot(metas, need, args.zoo)}", file=sys.stderr)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
