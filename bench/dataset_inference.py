"""Dataset inference (Maini et al. 2021): its p-value against m, the private rows revealed.

Run: ``.venv/bin/python bench/dataset_inference.py [--markdown] [--quick] [--methods A,B]``
(``--quick``: MNIST-1D only, m up to 50; ``--methods``: a subset of ``dataset-inference``,
``dataset-inference-proba`` and ``dataset-inference-mingd``, the white-box MinGD, whose
finite differences on the zoo's SVMs make it by far the slowest: 27 minutes for ``--quick`` beside another job).

Owners, each trained on half of a data set's training rows and keeping them
(``--keep-private``), the other half kept as the pool:

* **mnist1d**: a perceptron of 256 hidden units, which memorises its rows (100% on them,
  about 50% on others): the generalisation gap dataset inference reads;
* **digits**: the CNN of ``bench/ownership.py`` (15 epochs), 100% on its rows and 95% on
  others: little gap to read.

Suspects: the owner itself; its weights fine-tuned on the pool or half pruned; Knockoff
copies made with labels or probabilities at 1,000 queries and the whole pool (two seeds);
data theft (a model of the owner's family trained from scratch on the owner's own rows,
two seeds); and the 20 independents of the zoo, each judged against the other 19 (leave one
out). For m in 10, 20, 50, 100, 200 and both embeddings (``dataset-inference``: the blind
walk, labels only; ``dataset-inference-proba``: the true-label margin), the median p-value
per kind of suspect (against the independents, as every method here; the paper's Welch
p-value beside it) and the share convicted at 0.01. A plot
(``bench/out/dataset_inference.png`` and ``.svg``) shows the median p against m.
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

from modelsteal.attacks import make_attack
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import split_for_theft
from modelsteal.oracle import LocalTransport, Oracle, OutputMode
from modelsteal.ownership import build_zoo, load_zoo, make_method, null_distribution, owner_of
from modelsteal.victims import TrainOptions, load_model_dir, save_model_dir, train_victim
from modelsteal.victims.base import SklearnVictim

sys.path.insert(0, str(Path(__file__).parent))
from ownership import modified

OUT = Path(__file__).parent / "out"
ALPHA = 0.01
METHODS = ("dataset-inference", "dataset-inference-proba", "dataset-inference-mingd")
#: owner → (family, training options)
OWNERS: dict[str, tuple[str, TrainOptions]] = {
    "mnist1d": ("mlp", TrainOptions(hidden=256)),
    "digits": ("cnn", TrainOptions()),
}
KINDS = (
    "the owner itself",
    "fine-tuned on the pool",
    "pruned 50%",
    "knockoff labels 1000",
    "knockoff proba 1000",
    "knockoff labels whole pool",
    "knockoff proba whole pool",
    "trained on the owner's data",
    "independent (left out)",
)


def suspects(name: str, md: Any, owned: Any, pool: Any, seeds: int) -> list[tuple[str, Any]]:
    family, options = OWNERS[name]
    out: list[tuple[str, Any]] = [("the owner itself", md.victim)]
    for seed in range(seeds):
        out.append(("fine-tuned on the pool", modified(md.victim, "fine-tuned", pool, seed)))
        out.append(("pruned 50%", modified(md.victim, "pruned", pool, seed)))
        for answers, tag in (("label", "labels"), ("probabilities", "proba")):
            for budget, size in ((1000, "1000"), (pool.X.shape[0], "whole pool")):
                transport = LocalTransport(md.victim, output_mode=OutputMode(answers))
                result = make_attack("knockoff", pool=pool).run(
                    Oracle(transport, max_batch=500), budget=budget, random_state=seed
                )
                copy = SklearnVictim(result.model, md.feature_space, family="copy")
                out.append((f"knockoff {tag} {size}", copy))
        out.append(
            ("trained on the owner's data", train_victim(owned, family, seed=100 + seed, options=options))
        )
    return out


def run_owner(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = load_dataset(name)
    owned, pool = split_for_theft(data, random_state=0)
    family, options = OWNERS[name]
    victim = train_victim(owned, family, seed=0, options=options)
    path = save_model_dir(
        victim, owned, workdir / f"{name}-owner", seed=0, pool=(pool.X, pool.y, "held out"), keep_private=True
    )
    started = time.perf_counter()
    build_zoo(path, size=args.zoo, random_state=0)
    md = load_model_dir(path)
    zoo = load_zoo(path / "zoo", md)
    print(f"{name}: zoo of {len(zoo)} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    accuracy = {
        "private": float(np.mean(victim.predict(owned.X_train) == owned.y_train)),
        "public": float(np.mean(victim.predict(data.X_test) == data.y_test)),
    }
    found = suspects(name, md, owned, pool, args.seeds)
    print(f"{name}: {len(found)} suspects made", file=sys.stderr)
    owner = owner_of(md)
    rows: list[dict[str, Any]] = []
    for method_name in args.methods:
        for m in args.m:
            method = make_method(method_name, n_samples=m)
            evidence = method.prepare(owner, random_state=args.seed)
            null = null_distribution(method, evidence, zoo)
            for kind, model in found:
                verdict = method.verify(evidence, Oracle(LocalTransport(model)), null, alpha=ALPHA)
                rows.append(
                    {
                        "method": method_name,
                        "m": m,
                        "kind": kind,
                        "p": verdict.p_value,
                        "welch_p": verdict.details["welch_p"],
                        "queries": verdict.queries,
                        "seconds": verdict.seconds,
                    }
                )
            for i in range(null.size):
                left = null.without(i)
                answers = method.ask(evidence, Oracle(LocalTransport(zoo[i][1])))
                rows.append(
                    {
                        "method": method_name,
                        "m": m,
                        "kind": "independent (left out)",
                        "p": left.p_value(float(null.statistics[i])),
                        "welch_p": method.judge(float(null.statistics[i]), evidence, answers, left, "t")[1][
                            "welch_p"
                        ],
                        "queries": evidence.queries,
                        "seconds": 0.0,
                    }
                )
        print(f"{name}: {method_name} done", file=sys.stderr)
    return {"accuracy": accuracy, "rows": rows, "family": family}


def plot(results: dict[str, dict[str, Any]], ms: list[int], methods: list[str], stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(
        len(results), len(methods), figsize=(6.5 * len(methods), 4.6 * len(results)), squeeze=False
    )
    colours = plt.get_cmap("tab10")
    for r, (owner, res) in enumerate(results.items()):
        acc = res["accuracy"]
        for c, method in enumerate(methods):
            ax = axes[r][c]
            for k, kind in enumerate(KINDS):
                med = []
                for m in ms:
                    ps = [
                        x["p"]
                        for x in res["rows"]
                        if x["method"] == method and x["m"] == m and x["kind"] == kind
                    ]
                    med.append(max(float(np.median(ps)), 1e-12) if ps else np.nan)
                style = "--" if kind.startswith("independent") else "-"
                ax.plot(ms, med, style, marker="o", ms=3, color=colours(k), label=kind)
            ax.axhline(ALPHA, color="black", lw=0.8, ls=":")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(1e-12, 1.5)
            ax.set_xticks(ms, [str(m) for m in ms])
            ax.set_xticks([], minor=True)  # no "3 x 10^1" between the m values
            ax.set_xlabel("m, private rows revealed (and as many public)")
            ax.set_ylabel("median p-value (vs independents)")
            ax.set_title(
                f"{owner} {res['family']} ({100 * acc['private']:.0f}% on its rows, "
                f"{100 * acc['public']:.0f}% on others): {method}",
                fontsize=9,
            )
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"{stem}.{suffix}", dpi=110)
    print(f"wrote {OUT / stem}.png and .svg", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="mnist1d only, m up to 50")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--zoo", type=int, default=20, help="independent models per owner (default 20)")
    parser.add_argument("--seeds", type=int, default=2, help="copies per kind of theft (default 2)")
    parser.add_argument("--seed", type=int, default=0, help="the owner's seed for the rows it reveals")
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)} (default all)"
    )
    args = parser.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    for m in args.methods:
        if m not in METHODS:
            parser.error(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    args.m = [10, 20, 50] if args.quick else [10, 20, 50, 100, 200]
    torch.set_num_threads(1)
    start = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("mnist1d",) if args.quick else tuple(OWNERS):
            results[name] = run_owner(name, args, Path(tmp))
    for owner, res in results.items():
        acc = res["accuracy"]
        print(
            f"{owner} {res['family']}: {100 * acc['private']:.1f}% on its own (private) rows, "
            f"{100 * acc['public']:.1f}% on public rows"
        )
        for method in args.methods:
            cells = []
            for kind in KINDS:
                row = [kind]
                for m in args.m:
                    rs = [
                        x for x in res["rows"] if x["method"] == method and x["m"] == m and x["kind"] == kind
                    ]
                    row.append(
                        f"{np.median([x['p'] for x in rs]):.2g} ({sum(x['p'] < ALPHA for x in rs)}/{len(rs)})"
                    )
                cells.append(row)
            queries = {
                m: next(x["queries"] for x in res["rows"] if x["method"] == method and x["m"] == m)
                for m in args.m
            }
            print_table(
                f"{owner}: {method}, median p against {args.zoo} independents (convicted at {ALPHA})",
                ["suspect", *[f"m={m} ({queries[m]} queries)" for m in args.m]],
                cells,
                markdown=args.markdown,
            )
            welch = []
            for kind in ("the owner itself", "knockoff proba whole pool", "independent (left out)"):
                rs = {
                    m: [x for x in res["rows"] if x["method"] == method and x["m"] == m and x["kind"] == kind]
                    for m in args.m
                }
                welch.append([kind, *[f"{np.median([x['welch_p'] for x in rs[m]]):.2g}" for m in args.m]])
            print_table(
                f"{owner}: {method}, the paper's one-sided Welch p (median)",
                ["suspect", *[f"m={m}" for m in args.m]],
                welch,
                markdown=args.markdown,
            )
    plot(
        results,
        args.m,
        args.methods,
        "dataset_inference-quick" if args.quick or args.zoo != 20 else "dataset_inference",
    )
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
