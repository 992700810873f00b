"""Campaign throughput: cells per minute on 1 and 2 local workers and on Ray, and Ray's start-up.

A CPU-bound grid (learning attacks on a digits CNN from synthetic patches, in-process
gateway, every cell torch on one thread) runs three times into fresh folders: the local
executor with 1 worker, with 2, and Ray with 2 CPUs on this machine. Victims are trained
once per folder and not counted. "seconds" runs from the first cell to the last; the
workers' start-up is shown apart (the local pool starts while the victims train and the
rest of its wait is inside "seconds"; Ray's is ``ray.init``, its workers' imports fall
inside "seconds"). "mean cell s" is a cell's own wall time: equal in a pool and alone
unless the cores slow each other. The three stores must hold the same results (times
aside): the bench checks it and prints the answer.

    .venv/bin/python bench/campaign.py [--markdown] [--skip-ray]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from modelsteal.campaigns.runner import LocalExecutor, RayExecutor, RunSummary, run_campaign
from modelsteal.campaigns.spec import campaign_from_dict
from modelsteal.campaigns.store import CampaignStore, comparable
from modelsteal.campaigns.tables import print_table
from modelsteal.progress import Reporter

BIG = ["1000000/day"]
GRID = {
    "name": "bench-throughput",
    "victims": {
        "cnn": {
            "train": {"dataset": "digits", "family": "cnn", "victim_rows": 673, "options": {"epochs": 10}}
        }
    },
    "policies": {
        "open": {"tiers": {"default": {"key_limits": BIG, "ip_limits": BIG}}, "detection": {}},
        "rs": {
            "tiers": {
                "default": {
                    "key_limits": BIG,
                    "ip_limits": BIG,
                    "transforms": [{"reverse_sigmoid": {"beta": 0.7, "gamma": 0.2}}],
                }
            },
            "detection": {},
        },
    },
    "attacks": {
        "knockoff": {"attack": "knockoff", "pool": "patches"},
        "copycat": {"attack": "copycat", "pool": "patches"},
    },
    "budgets": [1000, 2000],
    "seeds": [0, 1, 2, 3, 4],
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    campaign = campaign_from_dict(GRID)
    quiet = Reporter(quiet=True)
    runs: list[tuple[str, RunSummary, Path]] = []
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        for workers in (1, 2):
            out = Path(tmp) / f"local-{workers}"
            summary = run_campaign(campaign, out, executor=LocalExecutor(workers), reporter=quiet)
            runs.append((f"local × {workers}", summary, out))
            print(f"local × {workers}: {summary.ran} cells in {summary.seconds:.1f} s", flush=True)
        if not args.skip_ray:
            executor = RayExecutor(workers=2)
            try:
                out = Path(tmp) / "ray-2"
                summary = run_campaign(campaign, out, executor=executor, reporter=quiet)
            finally:
                executor.close()
            runs.append(("ray × 2", summary, out))
            print(f"ray × 2: {summary.ran} cells in {summary.seconds:.1f} s", flush=True)
        reference = comparable(CampaignStore(runs[0][2]).rows())
        same = {label: comparable(CampaignStore(out).rows()) == reference for label, _, out in runs}
        # a cell's own wall time: the same in a pool as alone, unless the cores slow each other
        cell_seconds = {
            label: sum(r.result.get("wall_seconds", 0.0) for r in CampaignStore(out).rows()) / summary.ran
            for label, summary, out in runs
        }
    base = runs[0][1].cells_per_minute
    rows = [
        [
            label,
            str(summary.ran),
            f"{summary.seconds:.1f}",
            f"{summary.cells_per_minute:.1f}",
            f"{summary.cells_per_minute / base:.2f}×",
            f"{cell_seconds[label]:.2f}",
            f"{summary.startup_seconds:.1f}",
            "yes" if same[label] else "NO",
        ]
        for label, summary, _ in runs
    ]
    print_table(
        f"campaign throughput on {os.cpu_count()} cores: {runs[0][1].ran} CPU-bound cells "
        "(knockoff and copycat on a digits CNN, in-process gateway)",
        [
            "executor",
            "cells",
            "seconds",
            "cells per minute",
            "speed-up",
            "mean cell s",
            "workers start-up s",
            "results equal local × 1",
        ],
        rows,
        markdown=args.markdown,
    )
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
