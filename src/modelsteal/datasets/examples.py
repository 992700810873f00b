"""A generated CSV file shaped like the ones users bring: mixed types, messy formatting.

It has numeric and text columns, spaces after separators, quoted fields holding commas,
``?`` and empty cells for missing values, and CRLF line endings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
