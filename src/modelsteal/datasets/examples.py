"""A generated CSV file shaped like the ones users bring: mixed types, messy formatting.

It has numeric and text columns, spaces after separators, quoted fields holding commas,
``?`` and empty cells for missing values, and CRLF line endings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelsteal.datasets.base import Dataset
from modelsteal.errors import InvalidInput
from modelsteal.random import RandomState, check_random_state

PURPOSES = ("car", "education", "furniture, appliances", "business", "repairs")
HOUSING = ("own", "rent", "free")


def write_loans_csv(path: str | Path, n_rows: int = 600, random_state: RandomState = 0) -> Path:
    """Write a credit-risk style CSV (target column ``risk``: good / bad) to ``path``."""
    rng = check_random_state(random_state)
    path = Path(path)
    age = rng.integers(19, 75, n_rows)
    amount = np.round(rng.lognormal(8.0, 0.7, n_rows), 2)
    duration = rng.integers(4, 72, n_rows)
    housing = rng.choice(HOUSING, n_rows, p=[0.6, 0.3, 0.1])
    purpose = rng.choice(PURPOSES, n_rows)
    score = (
        0.03 * (age - 40)
        - 0.00015 * (amount - 3000)
        - 0.03 * (duration - 24)
        + np.where(housing == "own", 0.8, np.where(housing == "rent", -0.3, -0.6))
        + np.where(purpose == "business", -0.7, 0.0)
        + rng.normal(0.0, 0.8, n_rows)
    )
    risk = np.where(score > 0, "good", "bad")
    lines = ["age, amount, duration, housing, purpose, risk"]
    for i in range(n_rows):
        cells = [
            str(age[i]),
            f"{amount[i]:.2f}",
            str(duration[i]),
            str(housing[i]),
            f'"{purpose[i]}"',
            str(risk[i]),
        ]
        if rng.random() < 0.03:
            cells[int(rng.integers(0, 5))] = "?" if rng.random() < 0.5 else ""
        lines.append(", ".join(cells))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return path


# ---------------------------------------------------------------------------- census-style
#: text columns of the census-style generator: name and number of levels (2 to 42)
CENSUS_TEXT = (
    ("workclass", 8),
    ("education", 16),
    ("marital_status", 7),
    ("occupation", 14),
    ("relationship", 6),
    ("race", 5),
    ("sex", 2),
    ("native_country", 42),
)
#: numeric columns: 90% zeros, a heavy (log-normal) tail, capped at 99,999 like Adult's capital-gain
CENSUS_NUMERIC = ("capital_gain", "capital_loss", "dividends", "interest", "rental_income", "bonus")
CENSUS_MAX = 99_999
CENSUS_SEGMENTS = ("retired", "student", "family", "professional", "entrepreneur")


def _level_shares(n_levels: int, rng: np.random.Generator, rare: int) -> np.ndarray:
    """Zipf-like shares of a column's levels; the last ``rare`` levels get under 0.1% each."""
    weights = 1.0 / np.arange(1, n_levels + 1) ** 1.3
    weights *= rng.uniform(0.7, 1.3, n_levels)
    shares = weights / weights.sum()
    if rare:
        shares[-rare:] = rng.uniform(0.0002, 0.0008, rare)
        head = shares[:-rare]
        shares[:-rare] = head / head.sum() * (1.0 - shares[-rare:].sum())
    return shares


def census_frame(
    n_rows: int = 30_000, *, classes: int = 2, random_state: RandomState = 0
) -> dict[str, list[str]]:
    """Columns of a census-style table (as text cells), the target last.

    Eight text columns with 2 to 42 levels (``native_country`` and ``occupation`` hold
    levels in under 0.1% of the rows; every level occurs at least twice), six numeric
    columns that are 0 in about 90% of the rows and heavy-tailed up to 99,999 (each column
    reaches the cap at least once), and a target that depends on all of them through a
    noisy linear score: ``income`` (``<=50K``/``>50K``) with ``classes=2``, or
    ``segment`` (five levels) with ``classes=5``.
    """
    if classes not in (2, 5):
        raise InvalidInput("the census-style generator has a binary (2) or a five-class (5) target")
    if n_rows < 500:
        raise InvalidInput("the census-style generator needs at least 500 rows")
    rng = check_random_state(random_state)
    n_scores = 1 if classes == 2 else classes
    score = np.zeros((n_rows, n_scores))
    columns: dict[str, list[str]] = {}
    for name, n_levels in CENSUS_TEXT:
        rare = {"native_country": 6, "occupation": 2}.get(name, 0)
        shares = _level_shares(n_levels, rng, rare)
        codes = rng.choice(n_levels, size=n_rows, p=shares)
        # every level at least twice, so the published schema and the data agree
        for level in range(n_levels):
            missing = 2 - int(np.sum(codes == level))
            if missing > 0:
                spots = rng.choice(np.flatnonzero(codes == 0), size=missing, replace=False)
                codes[spots] = level
        effect = rng.normal(0.0, 0.6, size=(n_levels, n_scores))
        score += effect[codes]
        columns[name] = [f"{name[:3]}_{level:02d}" for level in codes]
    for name in CENSUS_NUMERIC:
        nonzero = rng.random(n_rows) < 0.10
        values = np.zeros(n_rows)
        values[nonzero] = np.minimum(np.round(rng.lognormal(7.5, 1.4, int(nonzero.sum()))), CENSUS_MAX)
        values[rng.choice(np.flatnonzero(nonzero), size=3, replace=False)] = CENSUS_MAX
        # the effect saturates, as capital gains do: log1p of the amount
        score += np.log1p(values)[:, None] * rng.normal(0.0, 0.12, size=(1, n_scores))
        columns[name] = [str(int(v)) for v in values]
    score += rng.gumbel(0.0, 0.8, size=score.shape) if classes > 2 else rng.normal(0.0, 0.8, size=score.shape)
    if classes == 2:
        label = score[:, 0] > np.quantile(score[:, 0], 0.76)  # about a quarter earn >50K, as in Adult
        columns["income"] = np.where(label, ">50K", "<=50K").tolist()
    else:
        columns["segment"] = [CENSUS_SEGMENTS[k] for k in np.argmax(score, axis=1)]
    return columns


def write_census_csv(
    path: str | Path, n_rows: int = 30_000, *, classes: int = 2, random_state: RandomState = 0
) -> Path:
    """Write a census-style CSV (see :func:`census_frame`) to ``path``."""
    path = Path(path)
    columns = census_frame(n_rows, classes=classes, random_state=random_state)
    names = list(columns)
    lines = [",".join(names)]
    lines += [",".join(row) for row in zip(*columns.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_census(n_rows: int = 30_000, *, classes: int = 2, random_state: RandomState = 0) -> Dataset:
    """The census-style table, written as CSV and read back the way a user's file is."""
    import tempfile

    from modelsteal.datasets.csv_import import load_csv

    with tempfile.TemporaryDirectory() as tmp:
        path = write_census_csv(Path(tmp) / "census.csv", n_rows, classes=classes, random_state=random_state)
        target = "income" if classes == 2 else "segment"
        return load_csv(path, target, name=f"census{classes}")
