"""The allowance both source checks keep: a count per place that may only fall.

A check counts something per place (a function's lines, a module's unexplained imports).
Places listed in its ``.allow`` file may keep the count they had when the check came in;
anywhere else the allowance is zero. A count over its allowance fails; so does one under
it, until the file is lowered to match, so the list only shrinks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def read(path: Path) -> dict[str, int]:
    """``place count`` lines; ``#`` lines are comments."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if line.strip() and not line.startswith("#"):
            where, n = line.rsplit(maxsplit=1)
            out[where] = int(n)
    return out


def write(path: Path, header: str, counts: dict[str, int]) -> None:
    path.write_text(f"# {header}\n" + "".join(f"{where} {n}\n" for where, n in sorted(counts.items()) if n))


def check(found: dict[str, int], path: Path, over: Callable[[str, int, int], str]) -> list[str]:
    """The errors: ``over(place, allowed, count)`` for each count above its allowance, and a
    request to lower the file for each below it."""
    allow = read(path)
    errors = [over(where, allow.get(where, 0), n) for where, n in found.items() if n > allow.get(where, 0)]
    errors += [
        f"{where}: now {found.get(where, 0)} (was {n}); lower it in {path.name} (take the line out at 0)"
        for where, n in allow.items()
        if found.get(where, 0) < n
    ]
    return errors
