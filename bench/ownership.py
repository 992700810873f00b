"""Is that model a copy of mine? SAC-m, SAC-w, CAE, DAWN and a training-time watermark against stolen copies.

Run: ``.venv/bin/python bench/ownership.py [--quick] [--markdown]`` (``--quick``: digits only,
about three minutes; the full run adds the mnist5k CNN).

For each owner (a CNN trained on half of a data set's training rows, the other half kept
as its pool, with a watermark embedded: EWE by default, ``--watermark trigger|margin`` for
the others; 60 epochs on digits, 15 on mnist5k; a plain CNN of the same seed and epochs
gives the clean-accuracy cost): a zoo of ``--zoo`` independent models trained on that pool (the owner's
family and others, different seeds and row subsets: the hard case of same-distribution
models), and stolen copies made through the owner's API by Knockoff (labels and
probabilities, from the natural pool and from off-distribution pools), Copycat and Jacobian
augmentation, over ``--seeds`` seeds; plus white-box thefts (weights fine-tuned or pruned) and
data thefts (a CNN trained from scratch on the owner's own rows, another seed), the latter
kept out of the AUC, which is about copies of the model. Each fingerprint queries every model with
the same ``--queries`` samples (CutMix for SAC-m, the owner's mistakes for SAC-w, conferrable
examples for CAE, which trains its own surrogates and references on the pool first). Copies are judged against the whole zoo; each independent
against the zoo without it (leave one out), which gives the negatives of the ROC and the
false-accusation rate. Printed: per method and kind of suspect, the median p-value, the
share convicted at p < 0.01, queries and seconds; per method, the AUC and the TPR at the
lowest FPR the zoo resolves. A plot (``bench/out/ownership.png`` and ``.svg``) shows each
suspect's p-value by kind.

``--study-queries 100,300,1000`` adds a study of SAC-m (labels, probabilities, tempered,
relative with labels and with probabilities):
at each query count, over ``--study-seeds`` draws of the owner's CutMix queries (seeds
``--seed`` on), the AUC and the TPR below every independent on natural-pool copies, and how
many draws meet the issue's target (AUC ≥ 0.99, TPR ≥ 95%), with a plot
(``bench/out/ownership-study.png``). One draw is one seed's luck; the study shows the spread.
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
from sklearn.metrics import roc_auc_score

from modelsteal.attacks import make_attack
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import load_dataset
from modelsteal.datasets.thief import make_pool, split_for_theft
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.ownership import build_zoo, load_zoo, make_method, null_distribution, owner_of
from modelsteal.ownership.api_watermark import DawnVerification, TriggerWatermark
from modelsteal.victims import TrainOptions, load_model_dir, save_model_dir, train_victim
from modelsteal.victims.base import SklearnVictim

OUT = Path(__file__).parent / "out"
METHODS = (
    "sac-m-labels",
    "sac-m",
    "sac-m-tempered",
    "sac-m-relative-labels",
    "sac-m-relative",
    "sac-w-labels",
    "sac-w",
    "sac-w-tempered",
    "cae",
    "dawn",
    "watermark",
)
#: the SAC-m variants ``--study-queries`` judges over several draws of the owner's queries
STUDIED = ("sac-m-labels", "sac-m", "sac-m-tempered", "sac-m-relative-labels", "sac-m-relative")
#: the issue's target for SAC-m on natural-pool copies: AUC and TPR below every independent
TARGET_AUC, TARGET_TPR = 0.99, 0.95
ALPHA = 0.01
#: (label, attack, answers, pool kind or None, budget or None for the whole pool, fits its answers)
THEFTS: list[tuple[str, str, str, str | None, int | None, bool]] = [
    ("knockoff labels 1000", "knockoff", "label", "in-distribution", 1000, False),
    ("knockoff proba 1000", "knockoff", "probabilities", "in-distribution", 1000, False),
    ("knockoff proba whole pool", "knockoff", "probabilities", "in-distribution", None, False),
    ("knockoff labels whole pool, fitted", "knockoff", "label", "in-distribution", None, True),
    ("knockoff proba whole pool, fitted", "knockoff", "probabilities", "in-distribution", None, True),
    ("copycat labels 1000", "copycat", "label", "in-distribution", 1000, False),
    ("knockoff proba patches 1000", "knockoff", "probabilities", "patches", 1000, False),
    ("knockoff labels resized 1000", "knockoff", "label", "resized", 1000, False),
    ("jacobian labels 1000", "jacobian", "label", None, 1000, False),
]
#: the DAWN transform every theft goes through (its records name the thief's key)
DAWN_SECRET = "bench-owner-secret"
#: each owner is a CNN with a watermark embedded at training (``--watermark``, EWE by default),
#: trained for these epochs: digits' 673 rows make 11 batches an epoch, and EWE's watermark
#: settles without a clean-accuracy cost only after about 60 epochs there
OWNER_EPOCHS = {"digits": 60, "mnist5k": 15}
#: white-box thefts: the owner's weights taken and changed (no query goes through the API)
MODIFIED = ("fine-tuned on the pool", "pruned 50%")
#: data theft: a model trained from scratch on the owner's own training rows (another seed); a
#: watermark should not catch it (it never saw the triggers). Kept out of the AUC, which is
#: about copies of the model
DATA_THEFT = "trained on the owner's data"


def modified(victim: Any, how: str, pool: Any, seed: int) -> Any:
    """The owner's model with its weights stolen, then fine-tuned on the thief's labelled pool
    (10 epochs, a tenth of the learning rate) or pruned (the half of each layer's weights
    smallest in magnitude set to 0)."""
    import copy

    from modelsteal.victims.base import TorchVictim

    clone = copy.deepcopy(victim)
    rng = np.random.default_rng(seed)
    if isinstance(clone, TorchVictim):
        params = [p for p in clone.module.parameters() if p.dim() > 1]
        if how.startswith("pruned"):
            with torch.no_grad():
                for w in params:
                    w[w.abs() <= w.abs().flatten().median()] = 0.0
            return clone
        torch.manual_seed(seed)
        optim = torch.optim.Adam(clone.module.parameters(), lr=2e-4)
        X = torch.tensor(pool.X, dtype=torch.float32)
        y = torch.tensor(pool.y)
        clone.module.train()
        for _ in range(10):
            for idx in torch.tensor(rng.permutation(len(X))).split(64):
                optim.zero_grad()
                torch.nn.functional.cross_entropy(clone.module(X[idx]), y[idx]).backward()
                optim.step()
        clone.module.eval()
        return clone
    mlp = clone.estimator.named_steps["model"]
    if how.startswith("pruned"):
        for w in mlp.coefs_:
            w[np.abs(w) <= np.median(np.abs(w))] = 0.0
        return clone
    scale = clone.estimator.named_steps["scale"]
    mlp.set_params(learning_rate_init=mlp.learning_rate_init / 10)
    Xs = scale.transform(pool.X)
    for _ in range(10):
        order = rng.permutation(len(Xs))
        mlp.partial_fit(Xs[order], pool.y[order])
    return clone


def steal(
    gateway: Any,
    data: Any,
    key: str,
    theft: tuple[str, str, str, str | None, int | None, bool],
    pool: Any,
    seed: int,
    space: Any,
) -> Any:
    """A copy stolen through the gateway on its own key (tier: the theft's answers)."""
    from modelsteal.gateway.transport import GatewayTransport
    from modelsteal.stolen.net import StolenNet

    _, attack, answers, pool_kind, budget, fitted = theft
    transport = GatewayTransport(gateway, gateway.store.create_key(key, answers), "owner")
    options: dict[str, Any] = {}
    if fitted:  # no augmentation, long training: the copy fits every answer it bought
        options["student"] = StolenNet(shift=0, noise=0.0, epochs=150, weight_decay=0.0)
    if pool_kind == "in-distribution":
        options["pool"] = pool
    elif pool_kind is not None:
        options["pool"] = make_pool(pool_kind, data, n=2000, random_state=seed)
    n = budget if budget is not None else pool.X.shape[0]
    result = make_attack(attack, **options).run(Oracle(transport, max_batch=100), budget=n, random_state=seed)
    return SklearnVictim(result.model, space, family="copy")


def run_owner(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = load_dataset(name)
    owned, pool = split_for_theft(data, random_state=0)
    epochs = OWNER_EPOCHS[name]
    victim = train_victim(owned, "cnn", seed=0, options=TrainOptions(watermark=args.watermark, epochs=epochs))
    plain = train_victim(owned, "cnn", seed=0, options=TrainOptions(epochs=epochs))
    accuracy = {
        "plain": float(np.mean(plain.predict(data.X_test) == data.y_test)),
        "watermarked": float(np.mean(victim.predict(data.X_test) == data.y_test)),
        "trigger": float(victim.details["watermark"]["trigger_accuracy"]),
    }
    owner_path = save_model_dir(
        victim, owned, workdir / f"{name}-owner", seed=0, pool=(pool.X, pool.y, "held-out rows")
    )
    gateway, store = dawn_gateway(victim, data.class_names, workdir / f"{name}-watermarks.db", args.share)
    started = time.perf_counter()
    build_zoo(owner_path, size=args.zoo, random_state=0)
    zoo_seconds = time.perf_counter() - started
    md = load_model_dir(owner_path)
    zoo = load_zoo(owner_path / "zoo", md)
    print(f"{name}: zoo of {len(zoo)} in {zoo_seconds:.0f} s", file=sys.stderr)
    honest_clients(gateway, data)
    copies: list[tuple[str, Any, float, str]] = []
    for theft in THEFTS:
        for seed in range(args.seeds):
            key = f"{theft[0]} #{seed}"
            copy = steal(gateway, owned, key, theft, pool, seed, md.feature_space)
            fidelity = float(np.mean(copy.predict(md.X_eval) == md.victim.predict(md.X_eval)))
            copies.append((theft[0], copy, fidelity, key))
        print(f"{name}: {theft[0]} stolen", file=sys.stderr)
    for how in MODIFIED:
        for seed in range(args.seeds):
            copy = modified(md.victim, how, pool, seed)
            fidelity = float(np.mean(copy.predict(md.X_eval) == md.victim.predict(md.X_eval)))
            copies.append((how, copy, fidelity, "(no key: the weights were taken)"))
    for seed in range(args.seeds):
        copy = train_victim(owned, "cnn", seed=100 + seed, options=TrainOptions(epochs=epochs))
        fidelity = float(np.mean(copy.predict(md.X_eval) == md.victim.predict(md.X_eval)))
        copies.append((DATA_THEFT, copy, fidelity, "(no key: the data were taken)"))
    owner = owner_of(md)
    out: dict[str, Any] = {"zoo_seconds": zoo_seconds, "methods": {}, "accuracy": accuracy, "study": []}
    for method_name in METHODS:
        options: dict[str, Any] = (
            {"store": str(store)} if method_name == "dawn" else {"n_samples": args.queries}
        )
        out["methods"][method_name] = judge(
            make_method(method_name, **options), args.seed, owner, zoo, copies
        )
    for queries in args.study_queries:  # SAC-m over several draws of its queries
        for seed in range(args.seed, args.seed + args.study_seeds):
            for method_name in STUDIED:
                result = judge(make_method(method_name, n_samples=queries), seed, owner, zoo, copies)
                out["study"].append(
                    {
                        "method": method_name,
                        "queries": queries,
                        "seed": seed,
                        "auc_natural": result["auc_natural"],
                        "tpr_natural": result["tpr_natural"],
                        "false_accusation": result["false_accusation"],
                    }
                )
        print(f"{name}: SAC-m study at {queries} queries done", file=sys.stderr)
    return out


def judge(
    method: Any, seed: int, owner: Any, zoo: list[tuple[str, Any]], copies: list[tuple[str, Any, float, str]]
) -> dict[str, Any]:
    """Every copy judged against the whole zoo and every independent against the others (leave
    one out), with the owner's queries drawn from ``seed``: p-values, AUCs, TPRs, false accusations."""
    evidence = method.prepare(owner, random_state=seed)
    null = null_distribution(method, evidence, zoo)
    rows = []
    for label, copy, fidelity, key in copies:
        verdict = method.verify(evidence, Oracle(LocalTransport(copy)), null, alpha=ALPHA)
        named = verdict.details.get("key") if key.startswith(tuple(t[0] for t in THEFTS)) else None
        rows.append(
            {
                "kind": label,
                "p": verdict.p_value,
                "fidelity": fidelity,
                "queries": verdict.queries,
                "seconds": verdict.seconds,
                "named": None if named is None else named == key,
            }
        )
    exact = isinstance(method, DawnVerification | TriggerWatermark)  # exact, chance from the others
    left_out = method.left_out_p_values(evidence, null) if exact else []
    negatives = [
        {
            "kind": "independent (left out)",
            "p": left_out[i] if exact else null.without(i).p_value(float(null.statistics[i])),
            "fidelity": float("nan"),
            "queries": evidence.queries,
            "seconds": 0.0,
            "named": None,
        }
        for i in range(null.size)
    ]
    p_pos = np.array([r["p"] for r in rows if r["kind"] != DATA_THEFT])
    p_neg = np.array([r["p"] for r in negatives])
    labels = np.r_[np.ones(p_pos.size), np.zeros(p_neg.size)]
    auc = float(roc_auc_score(labels, -np.log(np.r_[p_pos, p_neg] + 1e-300)))
    threshold = np.sort(p_neg)[0]  # below every independent: FPR 0 of the zoo
    natural = {t[0] for t in THEFTS if t[3] == "in-distribution"}
    p_nat = np.array([r["p"] for r in rows if r["kind"] in natural])
    labels_nat = np.r_[np.ones(p_nat.size), np.zeros(p_neg.size)]
    auc_natural = float(roc_auc_score(labels_nat, -np.log(np.r_[p_nat, p_neg] + 1e-300)))
    return {
        "rows": rows,
        "negatives": negatives,
        "auc": auc,
        "auc_natural": auc_natural,
        "tpr_natural": float(np.mean(p_nat < threshold)),
        "tpr_at_zero_fpr": float(np.mean(p_pos < threshold)),
        "false_accusation": float(np.mean(p_neg < ALPHA)),
        "watermarks": evidence.queries if isinstance(method, DawnVerification) else None,
    }


def dawn_gateway(victim: Any, classes: tuple[str, ...], store: Path, share: float) -> tuple[Any, Path]:
    """The owner's API: a label tier and a probability tier, both behind the DAWN watermark."""
    from modelsteal.gateway import Gateway, Policy
    from modelsteal.gateway.service import ServedModel
    from modelsteal.gateway.store import Store

    dawn = [{"dawn": {"secret": DAWN_SECRET, "store": str(store), "share": share}}]
    roomy = {"key_limits": ["1000000/hour"], "ip_limits": ["1000000/hour"], "transforms": dawn}
    tiers = {"label": {**roomy, "output": {"kind": "label"}}, "probabilities": roomy}
    policy = Policy.from_dict({"tiers": tiers})
    gateway = Gateway(
        [ServedModel("owner", victim, classes)], policy=policy, store=Store(store.with_suffix(".gw"))
    )
    return gateway, store


def honest_clients(gateway: Any, data: Any) -> None:
    """Three honest keys asking natural rows: their watermarks are in the store too."""
    from modelsteal.campaigns.traffic import benign_clients
    from modelsteal.gateway.transport import GatewayTransport

    for client in benign_clients(data.X_test, data.y_test, n_clients=3, queries=300, random_state=0):
        transport = GatewayTransport(gateway, gateway.store.create_key(client.name, "label"), "owner")
        for batch in client.batched():
            transport.send(batch)


def plot(results: dict[str, dict[str, Any]], stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    methods = tuple(METHODS)
    kinds = [t[0] for t in THEFTS] + [*MODIFIED, DATA_THEFT, "independent (left out)"]
    fig, axes = plt.subplots(
        len(results), len(methods), figsize=(4 * len(methods), 4.2 * len(results)), squeeze=False
    )
    for r, (owner, res) in enumerate(results.items()):
        for c, method in enumerate(methods):
            ax = axes[r][c]
            m = res["methods"][method]
            for k, kind in enumerate(kinds):
                ps = [row["p"] for row in m["rows"] + m["negatives"] if row["kind"] == kind]
                colour = "C3" if kind.startswith("independent") else "C0"
                ax.scatter(np.maximum(ps, 1e-12), [k] * len(ps), color=colour, alpha=0.7, s=22)
            ax.axvline(ALPHA, color="k", linestyle="--", linewidth=1)
            ax.set_xscale("log")
            ax.set_yticks(range(len(kinds)))
            ax.set_yticklabels(kinds if c == 0 else [], fontsize=8)
            ax.set_xlabel("p-value (log; dashed: 0.01; left is 'a copy')")
            ax.set_title(f"{owner}: {method} (AUC {m['auc']:.2f})", fontsize=10)
            ax.grid(alpha=0.3)
    fig.suptitle("Ownership: p-values of stolen copies (blue) and independent models (red)")
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"{stem}.{suffix}", dpi=110)
    print(f"wrote {OUT / stem}.png and .svg", file=sys.stderr)


def print_study(owner: str, study: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Per SAC-m variant and query count: AUC and TPR on natural-pool copies over the draws."""
    cells = []
    for queries in args.study_queries:
        for method in STUDIED:
            rs = [r for r in study if r["method"] == method and r["queries"] == queries]
            auc = np.array([r["auc_natural"] for r in rs])
            tpr = np.array([r["tpr_natural"] for r in rs])
            met = int(np.sum((auc >= TARGET_AUC) & (tpr >= TARGET_TPR)))
            cells.append(
                [
                    method,
                    str(queries),
                    f"{auc.mean():.3f} ({auc.min():.3f}–{auc.max():.3f})",
                    f"{tpr.mean():.0%} ({tpr.min():.0%}–{tpr.max():.0%})",
                    f"{met} of {len(rs)}",
                    f"{max(r['false_accusation'] for r in rs):.0%}",
                ]
            )
    print_table(
        f"{owner}: SAC-m on natural-pool copies over {args.study_seeds} draws of its queries (zoo of {args.zoo})",
        [
            "method",
            "queries",
            "AUC, mean (range)",
            "TPR below every independent, mean (range)",
            f"draws at AUC ≥ {TARGET_AUC} and TPR ≥ {TARGET_TPR:.0%}",
            "independents accused at 0.01, worst draw",
        ],
        cells,
        markdown=args.markdown,
    )


def plot_study(results: dict[str, dict[str, Any]], queries: list[int]) -> None:
    """SAC-m's AUC and TPR on natural-pool copies against the query count: the mean over the
    draws, the band from the worst draw to the best, the issue's target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    OUT.mkdir(exist_ok=True)
    fig, axes = plt.subplots(len(results), 2, figsize=(10, 3.6 * len(results)), squeeze=False)
    for r, (owner, res) in enumerate(results.items()):
        for c, (key, target, label) in enumerate(
            (("auc_natural", TARGET_AUC, "AUC"), ("tpr_natural", TARGET_TPR, "TPR below every independent"))
        ):
            ax = axes[r][c]
            for k, method in enumerate(STUDIED):
                by_count = [
                    [row[key] for row in res["study"] if row["method"] == method and row["queries"] == q]
                    for q in queries
                ]
                mean = [float(np.mean(v)) for v in by_count]
                ax.plot(queries, mean, marker="o", color=f"C{k}", label=method)
                ax.fill_between(
                    queries, [min(v) for v in by_count], [max(v) for v in by_count], color=f"C{k}", alpha=0.15
                )
            ax.axhline(target, color="k", linestyle="--", linewidth=1)
            ax.set_xscale("log")
            ax.set_xticks(queries)
            ax.set_xticklabels([str(q) for q in queries])
            ax.set_xlabel("CutMix queries")
            ax.set_ylabel(label)
            ax.set_title(f"{owner}: {label}", fontsize=10)
            ax.grid(alpha=0.3)
            if r == 0 and c == 0:
                ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        "SAC-m on natural-pool copies over draws of its queries:\n"
        "mean (line), worst to best draw (band), the issue's target (dashed)"
    )
    fig.tight_layout()
    for suffix in ("png", "svg"):
        fig.savefig(OUT / f"ownership-study.{suffix}", dpi=110)
    print(f"wrote {OUT / 'ownership-study'}.png and .svg", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="digits only")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--zoo", type=int, default=20, help="independent models per owner (default 20)")
    parser.add_argument("--seeds", type=int, default=2, help="copies per kind of theft (default 2)")
    parser.add_argument("--queries", type=int, default=100, help="queries per method (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="the owner's seed for its queries")
    parser.add_argument("--only", help="one owner: digits or mnist5k")
    parser.add_argument(
        "--study-queries",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[],
        help="SAC-m study: query counts, e.g. 100,300,1000; each judged over --study-seeds draws",
    )
    parser.add_argument("--study-seeds", type=int, default=5, help="draws of the owner's queries per count")
    parser.add_argument("--share", type=float, default=0.005, help="DAWN's watermarked share (default 0.005)")
    parser.add_argument("--mix", help="CutMix's share from the second image, LO,HI (default 0.3,0.7)")
    parser.add_argument(
        "--watermark", choices=("ewe", "trigger", "margin"), default="ewe", help="the owners' watermark"
    )
    args = parser.parse_args()
    if args.mix:
        from modelsteal.ownership import fingerprints

        lo, hi = (float(x) for x in args.mix.split(","))
        fingerprints.MIX_SHARE = (lo, hi)
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        owners = ("digits",) if args.quick else ("digits", "mnist5k")
        for name in (args.only,) if args.only else owners:
            results[name] = run_owner(name, args, Path(tmp))
    for owner, res in results.items():
        cells = []
        for method, m in res["methods"].items():
            for kind in [t[0] for t in THEFTS] + [*MODIFIED, DATA_THEFT, "independent (left out)"]:
                rs = [r for r in m["rows"] + m["negatives"] if r["kind"] == kind]
                fid = [r["fidelity"] for r in rs if not np.isnan(r["fidelity"])]
                named = [r["named"] for r in rs if r.get("named") is not None]
                cells.append(
                    [
                        method,
                        kind,
                        f"{100 * np.mean(fid):.1f}" if fid else "-",
                        f"{np.median([r['p'] for r in rs]):.2g}",
                        f"{sum(r['p'] < ALPHA for r in rs)} of {len(rs)}",
                        f"{sum(named)} of {len(named)}" if named else "-",
                        str(rs[0]["queries"]),
                        f"{np.mean([r['seconds'] for r in rs]):.3f}",
                    ]
                )
        print_table(
            f"Ownership on {owner}: SAC-m and SAC-w (at most {args.queries} queries) and DAWN (share {args.share}) against a zoo "
            f"of {args.zoo} (this machine)",
            [
                "method",
                "suspect",
                "copy fidelity %",
                "median p",
                f"p < {ALPHA}",
                "thief's key named",
                "queries",
                "seconds",
            ],
            cells,
            markdown=args.markdown,
        )
        acc = res["accuracy"]
        print(
            f"{owner}: CNN test accuracy {100 * acc['plain']:.1f}% plain, {100 * acc['watermarked']:.1f}% with the "
            f"{args.watermark} watermark ({100 * acc['trigger']:.0f}% of its triggers answered with their label), "
            f"{OWNER_EPOCHS[owner]} epochs each"
        )
        summary = [
            [
                method,
                f"{m['auc']:.3f}",
                f"{m['tpr_at_zero_fpr']:.0%}",
                f"{m['auc_natural']:.3f}",
                f"{m['tpr_natural']:.0%}",
                f"{m['false_accusation']:.0%}",
            ]
            for method, m in res["methods"].items()
        ]
        print_table(
            f"{owner}: copies against independents (zoo of {args.zoo}, {args.seeds} copies per theft)",
            [
                "method",
                "AUC, every copy",
                f"TPR below every independent (FPR 0 of {args.zoo})",
                "AUC, copies from the natural pool",
                "their TPR below every independent",
                "independents accused at 0.01 (leave one out)",
            ],
            summary,
            markdown=args.markdown,
        )
        if res["study"]:
            print_study(owner, res["study"], args)
    # a partial run writes its own plot, so README's figure stays the full run's
    partial = (
        args.quick or args.only or args.mix or args.zoo != 20 or args.seeds != 2 or args.watermark != "ewe"
    )
    plot(results, "ownership-quick" if partial else "ownership")
    if args.study_queries:
        plot_study(results, args.study_queries)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
