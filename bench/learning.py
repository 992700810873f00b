"""Learning-based extraction of a CNN on mnist5k, side by side with ART 1.20.1.

    .venv/bin/python bench/learning.py [--seeds 3] [--markdown] [--no-art] [--quick]

Setting. mnist5k's training split (3,750 images) is cut in two: the owner trains the victim
CNN on 2,000 images; the thief's in-distribution pool is the other 1,750, which the victim
never saw. Fidelity is top-1 agreement with the victim on the 1,250 test images (and on
2,000 uniform images). Every attack runs once per seed with a budget of 2,000 queries and
rounds ending at 250, 500 and 1,000 queries; the copy at each of those points is retrained
from scratch on every answer so far, so for the non-adaptive attacks it is the copy a
separate run with that budget would give. Budgets beyond the pool are filled with shifted
copies of pool images, and they count.

ART (installed with `make bench`, never with its [pytorch] extra) runs on the same victim,
pool, budgets and thief network, one run per budget, through a counting wrapper: its
queries are the rows its predict function received. Equal training effort: ART trains
with Adam at our learning rate and weight decay, batch 64, for as many epochs as give the
optimiser steps ours takes at that budget (ours: max(30 epochs, 400 steps), cosine
schedule; ART has no schedule). ART's adaptive Knockoff needs the pool's true labels,
which we give it; ours does not.

Then: the transferability of FGSM and PGD examples crafted on stolen copies versus on an
independent model trained on the pool's true labels; fidelity by thief data; and every
attack on digits against the 60-second goal.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

torch.set_num_threads(1)

from modelsteal.attacks.learning import (  # noqa: E402
    ActiveLearning,
    Copycat,
    JacobianAugmentation,
    KnockoffNets,
    LearningAttack,
    SemiSupervised,
)
from modelsteal.datasets import load_dataset  # noqa: E402
from modelsteal.datasets.thief import make_pool, split_for_theft  # noqa: E402
from modelsteal.metrics.fidelity import EvalSet  # noqa: E402
from modelsteal.metrics.transferability import transfer_rate  # noqa: E402
from modelsteal.oracle import LocalTransport, Oracle, OutputMode  # noqa: E402
from modelsteal.stolen.net import StolenNet  # noqa: E402
from modelsteal.victims.training import TrainOptions, test_accuracy, train_victim  # noqa: E402

BUDGETS = (250, 500, 1000, 2000)
MODES = ("probabilities", "label")


def attack_specs(pool: Any) -> list[tuple[str, LearningAttack]]:
    common: dict[str, Any] = {"pool": pool}
    return [
        ("knockoff-random", KnockoffNets(policy="random", **common)),
        ("knockoff-adaptive", KnockoffNets(policy="adaptive", **common)),
        ("copycat", Copycat(**common)),
        ("jacobian", JacobianAugmentation(**common)),
        ("active-uncertainty", ActiveLearning(strategy="uncertainty", **common)),
        ("active-kcenter", ActiveLearning(strategy="kcenter", **common)),
        ("active-mix", ActiveLearning(strategy="mix", **common)),
        ("semi-supervised", SemiSupervised(**common)),
    ]


@dataclass
class Cell:
    fidelity: list[float]
    seconds: list[float]
    queries: list[int]


def mean_std(values: list[float]) -> str:
    a = np.asarray(values, dtype=float) * 100
    return f"{a.mean():.2f} ± {a.std():.2f}" if a.size > 1 else f"{a.mean():.2f}"


def run_ours(
    victim: Any, ev: EvalSet, pool: Any, seeds: list[int], budgets: tuple[int, ...]
) -> dict[tuple[str, str, int], Cell]:
    cells: dict[tuple[str, str, int], Cell] = {}
    for mode in MODES:
        for seed in seeds:
            for label, attack in attack_specs(pool):
                attack.checkpoints = budgets[:-1]
                oracle = Oracle(LocalTransport(victim, output_mode=OutputMode(mode)))
                result = attack.run(oracle, budget=budgets[-1], random_state=seed, eval_set=ev)
                for point in result.history:
                    if point.queries in budgets:
                        cell = cells.setdefault((label, mode, point.queries), Cell([], [], []))
                        cell.fidelity.append(point.fidelity_test)
                        cell.seconds.append(point.seconds)
                        cell.queries.append(point.queries)
                print(
                    f"  ours {label:20s} {mode:13s} seed {seed}: "
                    + " ".join(
                        f"{p.queries}:{100 * p.fidelity_test:.2f}"
                        for p in result.history
                        if p.queries in budgets
                    )
                    + f"  ({result.seconds:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    return cells


def run_ours_alone(
    victim: Any, ev: EvalSet, pool: Any, seeds: list[int], budgets: tuple[int, ...]
) -> dict[tuple[str, str, int], Cell]:
    """Knockoff-random and Copycat, one run per budget, as ART runs: like-for-like wall time."""
    cells: dict[tuple[str, str, int], Cell] = {}
    for mode in MODES:
        for seed in seeds:
            for label, make in (
                ("knockoff-random", lambda: KnockoffNets(pool=pool)),
                ("copycat", lambda: Copycat(pool=pool)),
            ):
                for budget in budgets:
                    oracle = Oracle(LocalTransport(victim, output_mode=OutputMode(mode)))
                    result = make().run(oracle, budget=budget, random_state=seed, eval_set=ev)
                    assert result.comparison is not None
                    cell = cells.setdefault((label, mode, budget), Cell([], [], []))
                    cell.fidelity.append(result.comparison.fidelity_test)
                    cell.seconds.append(result.seconds)
                    cell.queries.append(result.queries)
    return cells


ART_FAILURES: dict[tuple[str, str], str] = {}


def _art_extract(
    label: str,
    black_box: Any,
    kwargs: dict[str, Any],
    x: np.ndarray,
    pool: Any,
    thief: Any,
    copycat: Any,
    knockoff: Any,
) -> Any:
    if label == "art-copycat":
        return copycat(black_box, **kwargs).extract(x, thieved_classifier=thief)
    if label == "art-knockoff-random":
        return knockoff(black_box, sampling_strategy="random", verbose=False, **kwargs).extract(
            x, thieved_classifier=thief
        )
    return knockoff(black_box, sampling_strategy="adaptive", verbose=False, **kwargs).extract(
        x, y=pool.y, thieved_classifier=thief
    )


def art_epochs(n: int) -> int:
    student = StolenNet()
    steps = max(math.ceil(student.epochs * n / student.batch_size), student.min_steps)
    return max(1, math.ceil(steps * student.batch_size / n))


def run_art(
    victim: Any, ev: EvalSet, pool: Any, space: Any, seeds: list[int], budgets: tuple[int, ...]
) -> dict[tuple[str, str, int], Cell]:
    from art.attacks.extraction import CopycatCNN
    from art.attacks.extraction import KnockoffNets as ArtKnockoff
    from art.estimators.classification import BlackBoxClassifier, PyTorchClassifier

    cells: dict[tuple[str, str, int], Cell] = {}
    n_classes = victim.classes_.size
    for mode in MODES:
        for seed in seeds:
            for label in ("art-copycat", "art-knockoff-random", "art-knockoff-adaptive"):
                for budget in budgets:
                    oracle = Oracle(LocalTransport(victim, output_mode=OutputMode(mode)), budget=10 * budget)

                    def predict(x: np.ndarray, oracle: Oracle = oracle) -> np.ndarray:
                        answers = oracle.query(np.asarray(x, dtype=np.float64).reshape(x.shape[0], -1))
                        if answers.probabilities is not None:
                            return answers.probabilities
                        return np.eye(n_classes)[answers.labels]

                    black_box = BlackBoxClassifier(
                        predict, (space.n_features,), n_classes, clip_values=(0.0, 255.0)
                    )
                    torch.manual_seed(seed)
                    net = StolenNet(random_state=seed).build(space, n_classes)
                    thief = PyTorchClassifier(
                        model=net,
                        loss=torch.nn.CrossEntropyLoss(),
                        optimizer=torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4),
                        input_shape=(space.n_features,),
                        nb_classes=n_classes,
                        clip_values=(0.0, 255.0),
                    )
                    kwargs = dict(
                        batch_size_fit=64,
                        batch_size_query=256,
                        nb_epochs=art_epochs(budget),
                        nb_stolen=budget,
                        use_probability=mode == "probabilities",
                    )
                    np.random.seed(seed)
                    x = pool.X.astype(np.float32)
                    start = time.perf_counter()
                    try:
                        stolen = _art_extract(
                            label, black_box, kwargs, x, pool, thief, CopycatCNN, ArtKnockoff
                        )
                    except ValueError as exc:  # ART's adaptive bandit divides by a zero reward variance
                        ART_FAILURES[(label, mode)] = f"{type(exc).__name__}: {exc}"
                        print(
                            f"  ART  {label} {mode} seed {seed} budget {budget}: failed: {exc}",
                            file=sys.stderr,
                        )
                        continue
                    seconds = time.perf_counter() - start
                    pred = np.argmax(stolen.predict(ev.X_test.astype(np.float32)), axis=1)
                    fid = float(np.mean(pred == np.argmax(ev.victim_test, axis=1)))
                    cell = cells.setdefault((label, mode, budget), Cell([], [], []))
                    cell.fidelity.append(fid)
                    cell.seconds.append(seconds)
                    cell.queries.append(oracle.queries)
                    print(
                        f"  ART  {label:20s} {mode:13s} seed {seed} budget {budget}: {100 * fid:.2f}"
                        f" with {oracle.queries} queries ({seconds:.0f} s)",
                        file=sys.stderr,
                        flush=True,
                    )
    return cells


def table(rows: list[list[str]], header: list[str], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--no-art", action="store_true")
    parser.add_argument("--quick", action="store_true", help="budgets 250 and 500 only; no side tables")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    budgets = (250, 500) if args.quick else BUDGETS

    data = load_dataset("mnist5k")
    owner, pool = split_for_theft(data, victim_rows=2000, random_state=0)
    start = time.perf_counter()
    victim = train_victim(owner, "cnn", seed=0, options=TrainOptions(epochs=20))
    acc = test_accuracy(victim, data)
    print(
        f"victim: CNN on {owner.X_train.shape[0]} mnist5k images, test accuracy {100 * acc:.2f}% "
        f"(trained in {time.perf_counter() - start:.1f} s); thief pool: {pool.description}\n"
    )
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=2000, random_state=0)

    ours = run_ours(victim, ev, pool, seeds, budgets)
    art = {} if args.no_art else run_art(victim, ev, pool, data.feature_space, seeds, budgets)
    alone = {} if args.no_art else run_ours_alone(victim, ev, pool, seeds, budgets)

    for mode in MODES:
        print(f"### Test fidelity (%) with {mode}, mean ± std over {len(seeds)} seeds\n")
        header = ["attack", *[f"{b:,} q" for b in budgets], f"s at {budgets[-1]:,}"]
        rows = []
        names = [n for n, _ in attack_specs(pool)] + sorted(
            {k[0] for k in art} | {k[0] for k in ART_FAILURES}
        )
        for name in names:
            src = art if name.startswith("art-") else ours
            if (name, mode, budgets[0]) not in src:
                if (name, mode) in ART_FAILURES:
                    rows.append([name, *["failed"] * len(budgets), "-"])
                continue
            cells = [src[(name, mode, b)] for b in budgets]
            row = [name, *[mean_std(c.fidelity) for c in cells], f"{np.mean(cells[-1].seconds):.1f}"]
            if name.startswith("art-"):
                row[0] += " (queries: " + "/".join(str(int(np.mean(c.queries))) for c in cells) + ")"
            rows.append(row)
        table(rows, header, args.markdown)
        for (name, m), message in sorted(ART_FAILURES.items()):
            if m == mode:
                print(f"{name} with {mode} failed inside ART: {message}\n")

        if art:
            print(f"### Like for like with {mode}: one run per budget, same network, steps and optimiser\n")
            rows = []
            for ours_name, art_name in (
                ("knockoff-random", "art-knockoff-random"),
                ("copycat", "art-copycat"),
            ):
                for b in budgets:
                    o, a = alone[(ours_name, mode, b)], art[(art_name, mode, b)]
                    fo, fa = np.mean(o.fidelity), np.mean(a.fidelity)
                    so, sa = np.mean(o.seconds), np.mean(a.seconds)
                    rows.append(
                        [
                            f"{ours_name} / {art_name}",
                            f"{b:,}",
                            f"{mean_std(o.fidelity)} / {mean_std(a.fidelity)}",
                            f"{fo / fa:.3f}",
                            f"{so:.1f} / {sa:.1f}",
                            f"{so / sa:.2f}",
                            f"{int(np.mean(o.queries))} / {int(np.mean(a.queries))}",
                        ]
                    )
            table(
                rows,
                ["ours / ART", "budget", "fidelity %", "ratio", "seconds", "time ratio", "queries sent"],
                args.markdown,
            )
            print(f"### Ours against ART with {mode}: best of ours / best of ART, fidelity and wall time\n")
            print("(ours: seconds into the one run with rounds at every budget, earlier rounds included)\n")
            rows = []
            for b in budgets:
                best_ours = max(
                    (k for k in ours if k[1] == mode and k[2] == b), key=lambda k: np.mean(ours[k].fidelity)
                )
                best_art = max(
                    (k for k in art if k[1] == mode and k[2] == b), key=lambda k: np.mean(art[k].fidelity)
                )
                fo, fa = np.mean(ours[best_ours].fidelity), np.mean(art[best_art].fidelity)
                so, sa = np.mean(ours[best_ours].seconds), np.mean(art[best_art].seconds)
                rows.append(
                    [
                        f"{b:,}",
                        f"{best_ours[0]} {100 * fo:.2f}",
                        f"{best_art[0]} {100 * fa:.2f}",
                        f"{fo / fa:.3f}",
                        f"{so:.1f} / {sa:.1f}",
                        f"{so / sa:.2f}",
                    ]
                )
            table(
                rows,
                ["budget", "ours", "ART", "fidelity ratio", "seconds ours / ART", "time ratio"],
                args.markdown,
            )

    if args.quick:
        return

    # ------------------------------------------------------------ transferability
    print("### Transferability: adversarial examples crafted on a model, success rate on the victim\n")
    X_t, y_t = data.X_test[:500], data.y_test[:500]
    sources: list[tuple[str, Any]] = []
    for mode in MODES:
        oracle = Oracle(LocalTransport(victim, output_mode=OutputMode(mode)))
        result = KnockoffNets(pool=pool).run(oracle, budget=1000, random_state=0)
        sources.append((f"knockoff-random copy, 1,000 queries, {mode}", result.model))
    independent = StolenNet(data.feature_space, np.arange(10), random_state=0).fit(pool.X, pool.y)
    sources.append((f"independent model on the pool's {len(pool)} true labels (no queries)", independent))
    rows = []
    for label, model in sources:
        agree = float(np.mean(model.predict(data.X_test) == np.argmax(ev.victim_test, axis=1)))
        row = [label, f"{100 * agree:.2f}"]
        for method, eps in (("fgsm", 0.1), ("fgsm", 0.2), ("pgd", 0.1), ("pgd", 0.2)):
            r = transfer_rate(victim, model, X_t, y_t, data.feature_space, method=method, epsilon=eps)
            row.append(f"{100 * r.victim_success:.1f} ({100 * r.source_success:.0f})")
        rows.append(row)
    table(
        rows,
        ["source model", "fidelity", "FGSM ε=0.1", "FGSM ε=0.2", "PGD ε=0.1", "PGD ε=0.2"],
        args.markdown,
    )
    print("(victim misclassified %, white-box success on the source in brackets; ε is a share of 0..255)\n")

    # ------------------------------------------------------------ thief data
    print("### Fidelity by thief data: knockoff-random at 1,000 queries, seed 0\n")
    rows = []
    for kind in ("in-distribution", "resized", "patches", "uniform"):
        p = pool if kind == "in-distribution" else make_pool(kind, data, n=4000, random_state=0)
        for mode in MODES:
            oracle = Oracle(LocalTransport(victim, output_mode=OutputMode(mode)))
            r = KnockoffNets(pool=p).run(oracle, budget=1000, random_state=0, eval_set=ev)
            assert r.comparison is not None
            rows.append(
                [
                    kind,
                    mode,
                    f"{100 * r.comparison.fidelity_test:.2f}",
                    f"{100 * r.comparison.fidelity_uniform:.2f}",
                ]
            )
    table(rows, ["pool", "answers", "test fidelity", "uniform fidelity"], args.markdown)

    # ------------------------------------------------------------ digits timing
    print("### Every attack on digits (CNN victim, budget 1,000, probabilities), 1 thread\n")
    digits = load_dataset("digits")
    d_owner, d_pool = split_for_theft(digits, random_state=0)
    d_victim = train_victim(d_owner, "cnn", seed=0, options=TrainOptions(epochs=20))
    d_ev = EvalSet.build(d_victim, digits.X_test, digits.y_test, digits.feature_space, n_uniform=2000)
    rows = []
    for label, attack in attack_specs(d_pool):
        oracle = Oracle(LocalTransport(d_victim))
        r = attack.run(oracle, budget=1000, random_state=0, eval_set=d_ev)
        assert r.comparison is not None
        rows.append([label, f"{r.queries}", f"{100 * r.comparison.fidelity_test:.2f}", f"{r.seconds:.1f}"])
    print(
        f"digits victim test accuracy {100 * test_accuracy(d_victim, digits):.2f}%; pool {d_pool.description}\n"
    )
    table(rows, ["attack", "queries", "test fidelity", "seconds"], args.markdown)


if __name__ == "__main__":
    main()
