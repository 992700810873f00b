"""What a training-time watermark costs the owner in clean accuracy, by kind and network width.

Run: ``.venv/bin/python bench/watermark_cost.py [--markdown] [--quick]`` (462 s on 2 cores,
measured beside another bench; ``--quick``: digits only, three seeds).

For each data set (digits at 60 epochs, mnist5k at 15, as in ``bench/ownership.py``) the
owner is a CNN trained on half the training rows, as there. For each width (``--cnn-width``
1, the default CNN, and 2: twice the channels and hidden units) and each seed, a plain CNN
and one with each watermark (``trigger``: 100 uniform inputs with random labels, Adi et al.
2018; ``margin``: the same held within an L∞ ball, after Kim et al. 2023; ``ewe``:
entangled patched rows, Jia et al. 2021) are trained with the same seed and epochs. The
cost is the plain CNN's test accuracy minus the watermarked one's, paired by seed: the
table gives its mean, its spread over seeds and its worst seed, the share of triggers the
owner answers with their label, and the plain CNN's own spread over seeds, which is the
noise a single comparison carries. A plot (``bench/out/watermark_cost.png``) shows each
seed's cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.progress import Reporter
from modelsteal.victims import TrainOptions, train_victim

OUT = Path(__file__).parent / "out"
#: epochs per data set, as the owners of bench/ownership.py
EPOCHS = {"digits": 60, "mnist5k": 15}
WATERMARKS = ("trigger", "margin", "ewe")
WIDTHS = (1, 2)


def accuracy(victim: Any, data: Any) -> float:
    return float(np.mean(victim.predict(data.X_test) == data.y_test))


def run(name: str, seeds: int, reporter: Reporter) -> dict[tuple[int, str], list[tuple[float, float]]]:
    """(width, watermark or "plain") → per seed (test accuracy, triggers kept)."""
    data = load_dataset(name)
    owned, _ = split_for_theft(data, random_state=0)
    results: dict[tuple[int, str], list[tuple[float, float]]] = {}
    steps = len(WIDTHS) * (1 + len(WATERMARKS)) * seeds
    with reporter.stage(f"{name}: training", total=steps, unit="models") as stage:
        for width in WIDTHS:
            for kind in ("plain", *WATERMARKS):
                cells = []
                for seed in range(seeds):
                    options = TrainOptions(
                        epochs=EPOCHS[name], cnn_width=width, watermark=None if kind == "plain" else kind
                    )
                    victim = train_victim(owned, "cnn", seed=seed, options=options)
                    kept = (
                        victim.details["watermark"]["trigger_accuracy"] if kind != "plain" else float("nan")
                    )
                    cells.append((accuracy(victim, data), kept))
                    stage.step(f"width {width}, {kind}, seed {seed}")
                results[(width, kind)] = cells
    return results


def plot(all_results: dict[str, dict[tuple[int, str], list[tuple[float, float]]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(all_results), figsize=(5.5 * len(all_results), 4), squeeze=False)
    for ax, (name, results) in zip(axes[0], all_results.items(), strict=True):
        ticks = []
        for i, (width, kind) in enumerate((w, k) for w in WIDTHS for k in WATERMARKS):
            plain = np.array([a for a, _ in results[(width, "plain")]])
            marked = np.array([a for a, _ in results[(width, kind)]])
            cost = 100 * (plain - marked)
            ax.scatter(np.full(cost.size, i), cost, color=f"C{WIDTHS.index(width)}", alpha=0.7)
            ax.plot([i - 0.3, i + 0.3], [cost.mean()] * 2, color="black")
            ticks.append(f"{kind}\nwidth {width}")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=1, label="1 point (the issue's ceiling)")
        ax.axhline(0.0, color="grey", linewidth=0.5)
        ax.set_xticks(range(len(ticks)), ticks, fontsize=8)
        ax.set_ylabel("clean-accuracy cost, points (plain − watermarked)")
        ax.set_title(f"{name} ({EPOCHS[name]} epochs): each dot a seed, bar the mean")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=120)
    fig.savefig(path.with_suffix(".svg"))
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="digits only, three seeds")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--seeds", type=int, help="seeds per setting (default 5 on digits, 3 on mnist5k)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    names = ("digits",) if args.quick else ("digits", "mnist5k")
    all_results = {}
    reporter = Reporter()
    for name in names:
        seeds = args.seeds or (3 if args.quick or name == "mnist5k" else 5)
        all_results[name] = run(name, seeds, reporter)
    for name, results in all_results.items():
        rows = []
        for width in WIDTHS:
            plain = np.array([a for a, _ in results[(width, "plain")]])
            for kind in WATERMARKS:
                marked = np.array([a for a, _ in results[(width, kind)]])
                kept = np.array([k for _, k in results[(width, kind)]])
                cost = 100 * (plain - marked)
                rows.append(
                    [
                        str(width),
                        kind,
                        f"{100 * plain.mean():.1f} ± {100 * plain.std(ddof=1):.1f}",
                        f"{100 * marked.mean():.1f}",
                        f"{cost.mean():.2f}",
                        f"{cost.std(ddof=1):.2f}",
                        f"{cost.max():.1f}",
                        f"{100 * kept.mean():.0f}",
                        str(plain.size),
                    ]
                )
        print_table(
            f"{name}: clean-accuracy cost of each watermark ({EPOCHS[name]} epochs; this machine)",
            [
                "width",
                "watermark",
                "plain accuracy % (mean ± sd over seeds)",
                "watermarked accuracy %",
                "cost, points (mean)",
                "cost sd",
                "worst seed",
                "triggers kept %",
                "seeds",
            ],
            rows,
            markdown=args.markdown,
        )
    plot(
        all_results, OUT / ("watermark_cost-quick.png" if args.quick or args.seeds else "watermark_cost.png")
    )
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
