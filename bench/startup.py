"""Start-up time of the light commands, beside the interpreter importing numpy alone.

    .venv/bin/python bench/startup.py [--repeat 15] [--markdown]

Each command is run ``--repeat`` times as a fresh process (``modelsteal`` is the console
script in the venv); the table gives the median and the fastest wall time. The light
commands import neither torch nor scikit-learn, so they should cost about what Python and
numpy cost; importing torch, which the commands that train, attack or serve need, is the
contrast.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from modelsteal.campaigns.tables import print_table


def wall(cmd: list[str], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    exe = str(Path(sys.executable).parent / "modelsteal")
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "gw.db")
        subprocess.run([exe, "keys", "create", "--db", db, "--name", "seed"], capture_output=True, check=True)
        cases = [
            ('python -c "import numpy"', [sys.executable, "-c", "import numpy"]),
            ("modelsteal --version", [exe, "--version"]),
            ("modelsteal --help", [exe, "--help"]),
            ("modelsteal datasets", [exe, "datasets"]),
            ("modelsteal keys list", [exe, "keys", "list", "--db", db]),
            ("modelsteal keys create", None),
            ("modelsteal attacks", [exe, "attacks"]),
            ("modelsteal train --help", [exe, "train", "--help"]),
            ('python -c "import torch" (what the rest pay)', [sys.executable, "-c", "import torch"]),
        ]
        rows = []
        base = None
        for label, cmd in cases:
            if cmd is None:  # a new name each run
                times = []
                for i in range(args.repeat):
                    start = time.perf_counter()
                    subprocess.run(
                        [exe, "keys", "create", "--db", db, "--name", f"k{i}"],
                        capture_output=True,
                        check=True,
                    )
                    times.append(time.perf_counter() - start)
                median, best = statistics.median(times), min(times)
            else:
                median, best = wall(cmd, args.repeat)
            base = median if base is None else base
            rows.append([label, f"{1000 * median:.0f}", f"{1000 * best:.0f}", f"{median / base:.1f}×"])
    print_table(
        f"Start-up, {args.repeat} runs each (ms)",
        ["command", "median ms", "fastest ms", "× numpy"],
        rows,
        markdown=args.markdown,
    )


if __name__ == "__main__":
    main()
