"""Tables for people: one rich table on the terminal, the same rows as markdown for README."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def print_table(
    title: str, heads: Sequence[str], rows: Sequence[Sequence[str]], *, markdown: bool = False
) -> None:
    """Print ``rows`` under ``heads``; with ``markdown`` also as a markdown table."""
    table = Table(title=title)
    for head in heads:
        table.add_column(head)
    for row in rows:
        table.add_row(*row)
    Console(width=200).print(table)
    if markdown:
        print(markdown_table(heads, rows))


def markdown_table(heads: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def number_text(value: Any, digits: int = 4) -> str:
    """A measured value for a table: ``-`` when missing, four decimals, or scientific when tiny."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    return str(value)


def print_results(rows: Sequence[dict[str, Any]], title: str) -> None:
    """The attack results table: who, how many queries and seconds, and how close the copy is."""
    table = Table(title=title)
    for head in ("victim", "attack", "queries", "seconds", "1−R_test", "1−R_unif", "TV (test)"):
        table.add_column(head, justify="left" if head in ("victim", "attack") else "right")
    for row in rows:
        table.add_row(
            str(row.get("victim", "")),
            str(row["attack"]),
            str(row["queries"]),
            f"{row['seconds']:.2f}",
            number_text(row.get("fidelity_test")),
            number_text(row.get("fidelity_uniform")),
            number_text(row.get("tv_test")),
        )
    Console(width=120).print(table)
