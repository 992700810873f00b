"""Extraction detection: the whole attack suite and honest clients through a monitored gateway.

    .venv/bin/python bench/detection.py [--benign 20] [--queries 1000]

The same run as ``modelsteal detect-eval``. Victims: digits (softmax, 20-unit MLP,
100-leaf tree, CNN trained on half the training split) and breast_cancer (logistic
regression). Each victim gets ``--benign`` honest clients of ``--queries`` queries each
(natural rows in natural order, 15-40% repeats, batches of 1-20 rows, one /24 each, keys
created over the last 60 days). Every attack runs in-process through the gateway with
the default detection policy (all detectors, key groups by /24 and by creation time) and
sends batches of at most 50 rows. "Fidelity at first alarm" reruns the attack in memory,
same seed, with its budget cut at the alarm's query count.

``--nat`` plays the same suite with every client of a victim, honest or thief, behind one
address, and the honest keys created within the same hour: what an office behind a NAT
(or a thief on a shared address) looks like. Sharing an address is no evidence: honest
clients must raise nothing, and the thieves must still be caught.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

torch.set_num_threads(1)

from modelsteal.campaigns.detection_eval import evaluate, format_report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--benign", type=int, default=20)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--nat", action="store_true", help="every client of a victim behind one address")
    args = parser.parse_args()
    start = time.perf_counter()
    report = evaluate(n_benign=args.benign, benign_queries=args.queries, seed=args.seed, nat=args.nat)
    print(format_report(report))
    print(f"\n(run took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
