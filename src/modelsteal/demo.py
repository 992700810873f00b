"""``make demo``: train victims on bundled data, steal them, print the table.

Everything runs on this machine in a minute or so; the model directories land in
``demo-out/`` (or the folder given as the first argument).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch
from rich.console import Console
from rich.progress import Progress

from modelsteal.attacks import mlp_unknowns
from modelsteal.cli import print_results
from modelsteal.datasets import load_csv, load_dataset
from modelsteal.datasets.examples import write_loans_csv
from modelsteal.experiment import steal_model_dir
from modelsteal.victims import TrainOptions, save_model_dir, train_victim

# (label, data set, family, options, attack, budget)
PLAN: list[tuple[str, str, str, dict[str, Any], str, int]] = [
    ("breast_cancer logreg", "breast_cancer", "logreg", {}, "equation-solving", 31),
    ("digits softmax", "digits", "softmax", {}, "equation-solving", 65),
    ("loans.csv softmax", "loans", "softmax", {}, "equation-solving", 12),
    ("iris ovr", "iris", "ovr", {}, "equation-solving", 8),
    ("digits ovr", "digits", "ovr", {}, "equation-solving", 100),
    (
        "digits mlp relu",
        "digits",
        "mlp",
        {"activation": "relu"},
        "equation-solving",
        2 * mlp_unknowns(64, 20, 10),
    ),
    (
        "digits mlp tanh",
        "digits",
        "mlp",
        {"activation": "tanh"},
        "equation-solving",
        mlp_unknowns(64, 20, 10),
    ),
]


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "demo-out")
    root.mkdir(parents=True, exist_ok=True)
    console = Console()
    csv_path = write_loans_csv(root / "loans.csv")
    rows = []
    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("training and stealing", total=len(PLAN))
        for label, dataset, family, options, attack, budget in PLAN:
            progress.update(task, description=f"{label}: training")
            data = load_csv(csv_path, "risk") if dataset == "loans" else load_dataset(dataset)
            victim = train_victim(data, family, seed=0, options=TrainOptions(**options))
            out = save_model_dir(
                victim, data, root / label.replace(" ", "-").replace(".csv", ""), seed=0, name=label
            )
            progress.update(task, description=f"{label}: stealing")
            result = steal_model_dir(out, attack, budget=budget, seed=0)
            summary = result.summary()
            summary["victim"] = label
            rows.append(summary)
            progress.advance(task)
    print_results(rows, "modelsteal demo: equation solving (Tramèr et al. 2016) against victims in memory")
    console.print(f"model directories in {root}/ ; total {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
