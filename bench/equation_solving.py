"""Equation-solving attacks across the bundled data sets, beside Tramèr et al. 2016.

Run: ``.venv/bin/python bench/equation_solving.py [--markdown]`` (about two minutes on 2 cores,
and about ten more for the census-style rows; ``--no-census`` leaves them out).

For each victim: unknowns, the queries our attack used, the queries as a multiple of the
unknowns, fidelity on the test split (1-R_test) and on 10,000 uniform points (1-R_unif),
the largest TV distance on the test split and the wall time. For one-vs-rest the budget
is searched upward from the equation count to the smallest that reaches 99.9% on both
fidelities. The paper's figures (Table 4, Adult with target "Race"; §4.1 text) follow.

Census-style rows: the generated 30,000-row table of ``load_census`` (8 text columns with
2-42 levels, some under 0.1% of the rows; 6 heavy-tailed numbers up to 99,999), victims
trained with default regularisation from seeds 0-4, binary logistic and softmax at
exactly d+1 queries, one-vs-rest at 1.1 and 2 times its equation count.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch

from modelsteal.attacks import make_attack, mlp_unknowns
from modelsteal.campaigns.tables import print_table
from modelsteal.datasets import Dataset, load_csv, load_dataset
from modelsteal.datasets.examples import load_census, write_loans_csv
from modelsteal.metrics import EvalSet
from modelsteal.oracle import LocalTransport, Oracle
from modelsteal.victims import TrainOptions, train_victim


@dataclass
class Row:
    victim: str
    method: str
    unknowns: int
    queries: int
    fidelity_test: float
    fidelity_uniform: float
    tv_max: float
    seconds: float
    note: str = ""


def load(name: str) -> Dataset:
    if name == "loans.csv":
        import tempfile
        from pathlib import Path

        path = write_loans_csv(Path(tempfile.mkdtemp()) / "loans.csv")
        return load_csv(path, "risk", name="loans.csv")
    return load_dataset(name)


def linear_unknowns(data: Dataset, family: str) -> int:
    p = data.feature_space.n_free_parameters + 1
    c = data.n_classes
    if family == "logreg":
        return p
    if family == "softmax":
        return (c - 1) * p  # identifiable: softmax ignores a shift shared by all classes
    return c * p


def run(
    data: Dataset,
    family: str,
    attack: str,
    budget: int,
    *,
    seed: int = 0,
    activation: str = "relu",
    **opts: object,
) -> tuple[Row, EvalSet]:
    victim = train_victim(data, family, seed=0, options=TrainOptions(activation=activation))
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    result = make_attack(attack, **opts).run(
        Oracle(LocalTransport(victim)), budget=budget, random_state=seed, eval_set=ev
    )
    c = result.comparison
    assert c is not None
    unknowns = (
        mlp_unknowns(data.n_features, 20, data.n_classes)
        if family == "mlp"
        else linear_unknowns(data, family)
    )
    label = f"{data.name} {family}" + (f" {activation}" if family == "mlp" else "")
    row = Row(
        label,
        attack,
        unknowns,
        result.queries,
        c.fidelity_test,
        c.fidelity_uniform,
        c.tv_test_max,
        result.seconds,
    )
    return row, ev


def census_row(classes: int, family: str, attack: str, seed: int, factor: float) -> Row:
    """One census-style victim from ``seed``, stolen at ``factor`` times its equation count."""
    torch.set_num_threads(1)
    data = load_census(classes=classes, random_state=seed)
    p = data.feature_space.n_free_parameters + 1
    equations = data.n_features + 1 if family != "ovr" else -(-classes * p // (classes - 1))
    victim = train_victim(data, family, seed=seed)
    ev = EvalSet.build(victim, data.X_test, data.y_test, data.feature_space, n_uniform=10_000, random_state=1)
    result = make_attack(attack).run(
        Oracle(LocalTransport(victim)), budget=int(factor * equations), random_state=seed, eval_set=ev
    )
    c = result.comparison
    assert c is not None
    note = f"seed {seed}, budget {factor:g}× {'d+1' if family != 'ovr' else 'equations'} ({equations})"
    return Row(
        f"census{classes} {family}",
        attack,
        linear_unknowns(data, family),
        result.queries,
        c.fidelity_test,
        c.fidelity_uniform,
        c.tv_test_max,
        result.seconds,
        note,
    )


def census_rows() -> list[Row]:
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(2, "logreg", "eq-logistic", s, 1.0) for s in range(5)]
    jobs += [(5, "softmax", "eq-softmax", s, 1.0) for s in range(5)]
    jobs += [(5, "ovr", "eq-ovr", s, f) for f in (1.1, 2.0) for s in range(5)]
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(census_row, *zip(*jobs, strict=True)))


def smallest_ovr_budget(data: Dataset) -> Row:
    """Walk the budget up from ceil(c(d+1)/(c-1)) until both fidelities reach 99.9%."""
    c, p = data.n_classes, data.feature_space.n_free_parameters + 1
    start = -(-c * p // (c - 1))
    budget = start
    while True:
        row, _ = run(data, "ovr", "eq-ovr", budget)
        if min(row.fidelity_test, row.fidelity_uniform) >= 0.999 or budget > 3 * start:
            row.note = f"smallest budget ≥99.9% (equations: {start})"
            return row
        budget += 1


PAPER = [
    ("Adult (Race) softmax", "530", "265", "99.96%", "99.75%"),
    ("Adult (Race) softmax", "530", "530", "100.00%", "100.00%"),
    ("Adult (Race) OvR", "530", "265", "99.98%", "99.98%"),
    ("Adult (Race) OvR", "530", "530", "100.00%", "100.00%"),
    ("Adult (Race) MLP (20 tanh)", "2,225", "2,225", "98.68%", "97.23%"),
    ("Adult (Race) MLP (20 tanh)", "2,225", "4,450", "99.89%", "99.82%"),
    ("binary LR (any d)", "d+1", "d+1", "100%", "100%"),
    ("Amazon LR on Digits (online)", "-", "650", "100%", "100%"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--markdown", action="store_true", help="also print markdown tables for README")
    parser.add_argument("--no-census", action="store_true", help="leave out the census-style rows")
    parser.add_argument("--only-census", action="store_true", help="only the census-style rows")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows: list[Row] = []
    start = time.perf_counter()
    plan: list[tuple[str, str, str, int]] = [
        ("breast_cancer", "logreg", "eq-logistic", 31),
        ("moons", "logreg", "eq-logistic", 3),
        ("circles", "logreg", "eq-logistic", 3),
        ("iris", "softmax", "eq-softmax", 5),
        ("wine", "softmax", "eq-softmax", 14),
        ("digits", "softmax", "eq-softmax", 65),
        ("blobs", "softmax", "eq-softmax", 7),
        ("classification5", "softmax", "eq-softmax", 21),
        ("mnist5k", "softmax", "eq-softmax", 785),
        ("loans.csv", "softmax", "eq-softmax", 12),
    ]
    if args.only_census:
        plan = []
    for name, family, attack, budget in plan:
        row, _ = run(load(name), family, attack, budget)
        row.note = "d+1 queries"
        rows.append(row)
        print(f"done {row.victim}", file=sys.stderr)
    for name in () if args.only_census else ("iris", "wine", "blobs", "classification5", "digits"):
        rows.append(smallest_ovr_budget(load(name)))
        print(f"done {name} ovr", file=sys.stderr)
    if not args.only_census:
        digits = load("digits")
        k = mlp_unknowns(64, 20, 10)
        for seed in (0, 1, 2):
            row, _ = run(digits, "mlp", "eq-mlp", 3 * k, seed=seed, activation="relu")
            row.note = f"seed {seed}"
            rows.append(row)
        for factor in (4.0, 6.0):
            row, _ = run(digits, "mlp", "eq-mlp", 3 * k, activation="tanh", query_factor=factor)
            row.note = f"query_factor {factor:g}"
            rows.append(row)
    if not args.no_census:
        rows += census_rows()
        print("done census", file=sys.stderr)
    print(f"total {time.perf_counter() - start:.1f} s", file=sys.stderr)

    heads = [
        "victim",
        "attack",
        "unknowns",
        "queries",
        "queries/unknowns",
        "1−R_test",
        "1−R_unif",
        "max TV",
        "seconds",
        "note",
    ]
    cells = [
        [
            r.victim,
            r.method,
            str(r.unknowns),
            str(r.queries),
            f"{r.queries / r.unknowns:.2f}",
            f"{100 * r.fidelity_test:.2f}%",
            f"{100 * r.fidelity_uniform:.2f}%",
            f"{r.tv_max:.1e}",
            f"{r.seconds:.2f}",
            r.note,
        ]
        for r in rows
    ]
    print_table("modelsteal equation solving (this machine)", heads, cells, markdown=args.markdown)
    print_table(
        "Tramèr et al. 2016, Table 4 and §4.1 (their figures)",
        ("model", "unknowns", "queries", "1−R_test", "1−R_unif"),
        PAPER,
        markdown=args.markdown,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
