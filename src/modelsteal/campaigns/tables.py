"""Tables for people: one rich table on the terminal, the same rows as markdown for README."""

from __future__ import annotations

from collections.abc import Sequence

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
