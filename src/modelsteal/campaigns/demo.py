"""``make demo``: the default campaign over HTTP, then Tramèr et al.'s attacks in memory.

1. The default campaign (``campaigns/default.yaml``): three digits victims behind three
   policies of gateways served on loopback, stolen over HTTP at several budgets and seeds,
   honest clients beside them; its headline table is printed and its report written to
   ``demo-out/campaign/report.html``. A second ``make demo`` finds the cells done and only
   rewrites the report.
2. Tramèr et al. 2016's attacks on eight victims, in memory: exact copies from a handful of
   queries, and three learning attacks on a CNN.

Everything runs on this machine in about three minutes; the output lands in ``demo-out/``
(or the folder given as the first argument).
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

from modelsteal.attacks import mlp_unknowns
from modelsteal.campaigns.experiment import steal_model_dir
from modelsteal.campaigns.tables import print_results
from modelsteal.datasets import load_csv, load_dataset
from modelsteal.datasets.examples import write_loans_csv
from modelsteal.datasets.thief import split_for_theft
from modelsteal.progress import Reporter
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
    ("digits tree", "digits", "tree", {}, "path-finding", 4000),
]

# learning attacks on a CNN trained on half of digits' training split; the other half is the
# thief's pool: (label, attack, options, budget)
LEARNING_PLAN: list[tuple[str, str, dict[str, Any], int]] = [
    ("digits cnn", "knockoff", {}, 500),
    ("digits cnn", "active", {"strategy": "mix"}, 500),
    ("digits cnn", "copycat", {}, 500),
]


def main(argv: list[str] | None = None) -> int:
    torch.set_num_threads(1)
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "demo-out")
    root.mkdir(parents=True, exist_ok=True)
    console = Console()
    start = time.perf_counter()
    report = run_default_campaign(root / "campaign", console)
    tramer(root, console)
    console.print(
        f"report of the campaign: {report.resolve()} (open it in a browser; it works offline)\n"
        f"model directories in {root}/ ; total {time.perf_counter() - start:.1f} s"
    )
    return 0


def run_default_campaign(out: Path, console: Console) -> Path:
    """Run (or finish) the default campaign with two workers; print its headline; write the report."""
    from modelsteal.campaigns.commands import default_campaign_path
    from modelsteal.campaigns.report import Results, build_report, comparison_section, headline_table
    from modelsteal.campaigns.runner import LocalExecutor, run_campaign
    from modelsteal.campaigns.spec import load_campaign
    from modelsteal.campaigns.tables import print_table

    campaign = load_campaign(default_campaign_path())
    summary = run_campaign(campaign, out, executor=LocalExecutor(2), resume=True)
    res = Results.load(out)
    table = headline_table(res)
    print_table(
        f"default campaign over HTTP: {summary.ran} cells run in {summary.seconds:.0f} s, "
        f"{summary.reused} already done, {summary.skipped} cannot run, {summary.failed} failed",
        table["heads"],
        [[cell["text"] for cell in row] for row in table["rows"]],
    )
    for comparison in campaign.comparisons:
        section = comparison_section(res, comparison.name, comparison.victims, comparison.claim)
        console.print(f"[bold]{comparison.name}[/bold]: {section['summary']}")
    return build_report(out)


def tramer(root: Path, console: Console) -> None:
    """Tramèr et al.'s attacks and three learning attacks, in memory."""
    csv_path = write_loans_csv(root / "loans.csv")
    rows = []
    with Reporter().stage(
        "training and stealing", total=len(PLAN) + len(LEARNING_PLAN) + 1, unit="steps"
    ) as stage:
        for label, dataset, family, options, attack, budget in PLAN:
            stage.note(f"{label}: training")
            data = load_csv(csv_path, "risk") if dataset == "loans" else load_dataset(dataset)
            victim = train_victim(data, family, seed=0, options=TrainOptions(**options))
            out = save_model_dir(
                victim, data, root / label.replace(" ", "-").replace(".csv", ""), seed=0, name=label
            )
            stage.note(f"{label}: stealing")
            result = steal_model_dir(out, attack, budget=budget, seed=0)
            summary = result.summary()
            summary["victim"] = label
            rows.append(summary)
            stage.step(f"{label}: {attack}, {result.queries} queries")
        stage.note("digits cnn: training on half the training split")
        digits = load_dataset("digits")
        owner, pool = split_for_theft(digits, victim_rows=digits.X_train.shape[0] // 2, random_state=0)
        cnn = train_victim(owner, "cnn", seed=0, options=TrainOptions(epochs=20))
        cnn.details["victim_rows"] = owner.X_train.shape[0]
        cnn_dir = save_model_dir(
            cnn,
            owner,
            root / "digits-cnn",
            seed=0,
            name="digits cnn",
            pool=(pool.X, pool.y, pool.description),
        )
        stage.step("digits cnn: trained")
        for label, attack, options, budget in LEARNING_PLAN:
            stage.note(f"{label}: stealing with {attack}")
            result = steal_model_dir(
                cnn_dir, attack, budget=budget, seed=0, options=options, pool="in-distribution"
            )
            summary = result.summary()
            summary["victim"] = label
            rows.append(summary)
            stage.step(f"{label}: {attack}, {result.queries} queries")
    print_results(
        rows,
        "Tramèr et al. 2016 (equation solving, path finding) and learning-based attacks "
        "(Knockoff Nets, ActiveThief, Copycat; thief pool: digits images the CNN never saw), in memory",
    )


if __name__ == "__main__":
    sys.exit(main())
