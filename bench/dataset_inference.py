"""Dataset inference (Maini et al. 2021): its p-value against m, the private rows revealed.

Run: ``.venv/bin/python bench/dataset_inference.py [--markdown] [--quick] [--methods A,B] [--effect-size]``
(``--quick``: MNIST-1D only, m up to 50; ``--methods``: a subset of ``dataset-inference``,
``dataset-inference-proba`` and ``dataset-inference-mingd``, the white-box MinGD, whose
finite differences on the zoo's SVMs make it by far the slowest: 27 minutes for ``--quick`` beside another job).

Owners, each trained on half of a data set's training rows and keeping them
(``--keep-private``), the other half kept as the pool:

* **mnist1d**: a perceptron of 256 hidden units, which memorises its rows (100% on them,
  about 50% on others): the generalisation gap dataset inference reads;
* **digits**: the CNN of ``bench/ownership.py`` (15 epochs), 100% on its rows and 95% on
  others: little gap to read.

``--effect-size`` asks instead how much of the owner's gap each suspect carries: Cohen's d
of its scores on every private row the owner can reveal against as many public rows, raw
and calibrated on the zoo (each row's score minus the independents' mean there), and the
share of 200 draws of m revealed rows (m up to 200) that convict each suspect at 0.01,
plotted to ``bench/out/dataset_inference-power.png``. One run's verdict is one such draw.

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
from modelsteal.ownership.dataset_inference import FIT_ROWS, welch_t
from modelsteal.ownership.null import NullDistribution
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


def cohen_d(private: np.ndarray, public: np.ndarray) -> float:
    """(mean private − mean public) / the pooled standard deviation: the gap per revealed row."""
    pooled = np.sqrt((private.var(ddof=1) + public.var(ddof=1)) / 2)
    return float((private.mean() - public.mean()) / pooled) if pooled > 0 else 0.0


def effect_sizes(
    method_name: str,
    owner: Any,
    found: list[tuple[str, Any]],
    zoo: list[tuple[str, Any]],
    ms: list[int],
    seed: int,
) -> list[dict[str, Any]]:
    """How much of the owner's gap each suspect carries, and how often m rows convict it.

    Each suspect's scores on every private row the owner can reveal beside its regressor's
    (and as many public rows), as Cohen's d: raw, and calibrated (each row's score minus
    the independents' mean score on that row, an independent leaving itself out: what a
    score relative to the zoo could read). Then, for each m in ``ms``, ``DRAWS`` draws of m
    private and m public rows among them: the method's verdict on each draw (Welch's t
    against the independents' t on the same rows, each independent judged by the others)
    and the share of draws convicted at ALPHA. One draw is what a single verdict sees; the
    share is its chance over draws of the rows revealed."""
    if owner.y_private is None or owner.y_public is None:
        raise SystemExit("the owner keeps no private or public labels")
    big = min(owner.y_private.size, owner.y_public.size) - FIT_ROWS
    method = make_method(method_name, n_samples=big)
    evidence = method.prepare(owner, random_state=seed)

    def scored(model: Any) -> np.ndarray:
        private, public = method.scores(evidence, method.ask(evidence, Oracle(LocalTransport(model))))
        return np.concatenate([private, public])

    zoo_rows = np.array([scored(model) for _, model in zoo])
    everyone = [(kind, scored(model), None) for kind, model in found] + [
        ("independent (left out)", zoo_rows[i], i) for i in range(len(zoo))
    ]
    rng = np.random.default_rng(seed)
    draws = [
        {m: (rng.choice(big, m, replace=False), big + rng.choice(big, m, replace=False)) for m in ms}
        for _ in range(DRAWS)
    ]
    # the independents' t on each draw: the null of that draw
    null_t = {
        m: np.array([[welch_t(z[priv], z[pub]) for z in zoo_rows] for priv, pub in (d[m] for d in draws)])
        for m in ms
    }
    rows = []
    for kind, score, index in everyone:
        others = np.arange(len(zoo)) != (-1 if index is None else index)
        mean = zoo_rows[others].mean(axis=0)
        convicted = {}
        for m in ms:
            hits = 0
            for k, d in enumerate(draws):
                priv, pub = d[m]
                null = NullDistribution(
                    null_t[m][k][others], tuple(str(j) for j in np.flatnonzero(others)), "high"
                )
                hits += null.p_value(welch_t(score[priv], score[pub])) < ALPHA
            convicted[m] = hits / DRAWS
        rows.append(
            {
                "method": method_name,
                "kind": kind,
                "m": big,
                "d": cohen_d(score[:big], score[big:]),
                "d_calibrated": cohen_d(score[:big] - mean[:big], score[big:] - mean[big:]),
                "convicted": convicted,
            }
        )
    return rows


#: draws of the revealed rows per m in ``--effect-size``
DRAWS = 200


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
    if args.effect_size:
        effects = [
            row
            for method in args.methods
            for row in effect_sizes(method, owner, found, zoo, args.m, args.seed)
        ]
        return {"accuracy": accuracy, "rows": [], "effects": effects, "family": family}
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


def draw_panels(
    results: dict[str, dict[str, Any]],
    ms: list[int],
    methods: list[str],
    curve: Any,
    *,
    stem: str,
    ylabel: str,
    threshold: float,
    log_y: bool,
    ylim: tuple[float, float],
    legend: tuple[int, str],
) -> None:
    """One panel per owner and method, one line per kind of suspect: ``curve(res, method,
    kind)`` gives its value at each m; saved as ``OUT/stem`` .png and .svg."""
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
                style = "--" if kind.startswith("independent") else "-"
                ax.plot(ms, curve(res, method, kind), style, marker="o", ms=3, color=colours(k), label=kind)
            ax.axhline(threshold, color="black", lw=0.8, ls=":")
            ax.set_xscale("log")
            if log_y:
                ax.set_yscale("log")
            ax.set_ylim(*ylim)
            ax.set_xticks(ms, [str(m) for m in ms])
            ax.set_xticks([], minor=True)  # no "3 x 10^1" between the m values
            ax.set_xlabel("m, private rows revealed (and as many public)")
            ax.set_ylabel(ylabel)
            ax.set_title(
                f"{owner} {res['family']} ({100 * acc['private']:.0f}% on its rows, "
                f"{100 * acc['public']:.0f}% on others): {method}",
                fontsize=9,
            )
    axes[0][legend[0]].legend(fontsize=7, loc=legend[1])
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"{stem}.{suffix}", dpi=110)
    print(f"wrote {OUT / stem}.png and .svg", file=sys.stderr)


def plot_power(results: dict[str, dict[str, Any]], ms: list[int], methods: list[str]) -> None:
    """The share of draws of m rows convicting each kind of suspect, against m."""

    def share(res: dict[str, Any], method: str, kind: str) -> list[float]:
        rs = [x for x in res["effects"] if x["method"] == method and x["kind"] == kind]
        return [100 * float(np.mean([x["convicted"][m] for x in rs])) for m in ms]

    draw_panels(
        results,
        ms,
        methods,
        share,
        stem="dataset_inference-power",
        ylabel=f"% of {DRAWS} draws convicted at {ALPHA}",
        threshold=100 * ALPHA,
        log_y=False,
        ylim=(-2, 102),
        legend=(0, "upper left"),
    )


def plot(results: dict[str, dict[str, Any]], ms: list[int], methods: list[str], stem: str) -> None:
    """The median p-value of each kind of suspect against m."""

    def median_p(res: dict[str, Any], method: str, kind: str) -> list[float]:
        out = []
        for m in ms:
            ps = [x["p"] for x in res["rows"] if x["method"] == method and x["m"] == m and x["kind"] == kind]
            out.append(max(float(np.median(ps)), 1e-12) if ps else np.nan)
        return out

    draw_panels(
        results,
        ms,
        methods,
        median_p,
        stem=stem,
        ylabel="median p-value (vs independents)",
        threshold=ALPHA,
        log_y=True,
        ylim=(1e-12, 1.5),
        legend=(-1, "lower left"),
    )


def print_effects(owner: str, effects: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per method and kind of suspect: the median d, raw and calibrated, and the share of draws
    of m rows that convict it (the mean over suspects of that kind)."""
    for method in args.methods:
        cells = []
        rows = [x for x in effects if x["method"] == method]
        for kind in KINDS:
            rs = [x for x in rows if x["kind"] == kind]
            raw = [x["d"] for x in rs]
            cal = [x["d_calibrated"] for x in rs]
            cells.append(
                [
                    kind,
                    f"{np.median(raw):+.2f} ({min(raw):+.2f} to {max(raw):+.2f})",
                    f"{np.median(cal):+.2f} ({min(cal):+.2f} to {max(cal):+.2f})",
                    *[f"{100 * np.mean([x['convicted'][m] for x in rs]):.0f}%" for m in args.m],
                ]
            )
        print_table(
            f"{owner}: {method}, the gap each suspect carries over {rows[0]['m']} private and as many "
            f"public rows, and the share of {DRAWS} draws of m rows convicted at {ALPHA}",
            [
                "suspect",
                "Cohen's d (range)",
                "d calibrated on the zoo (range)",
                *[f"convicted, m={m}" for m in args.m],
            ],
            cells,
            markdown=args.markdown,
        )


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
    parser.add_argument(
        "--effect-size",
        action="store_true",
        help="instead of p against m: how much of the owner's gap each suspect carries (Cohen's d on "
        "every row the owner can reveal) and the m that implies",
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
        if args.effect_size:
            print_effects(owner, res["effects"], args)
            continue
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
    if args.effect_size:
        plot_power(results, args.m, args.methods)
        print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
        return 0
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
