"""No function in src/ longer than LIMIT lines, counted from its ``def`` to its last line.

Run by ``make test``. Functions that were already longer when the check came in are
listed in ``tools/long_functions.allow`` with their length then: the check fails when one
of them grows, when a new one passes the limit, or when a listed one has been shortened
or removed (so the list only ever shrinks: take its line out).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ratchet

LIMIT = 60
ROOT = Path(__file__).resolve().parents[1]
ALLOW = ROOT / "tools" / "long_functions.allow"


def lengths(src: Path) -> dict[str, int]:
    """``path:qualified.name`` → lines, for every function over ``LIMIT`` lines under ``src``."""
    found: dict[str, int] = {}
    for path in sorted(src.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        rel = path.relative_to(ROOT).as_posix()

        def visit(node: ast.AST, prefix: str, rel: str = rel) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        size = (child.end_lineno or child.lineno) - child.lineno + 1
                        if size > LIMIT:
                            found[f"{rel}:{name}"] = size
                    visit(child, f"{name}.")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return found


def over(where: str, allowed: int, size: int) -> str:
    if allowed:
        return f"{where}: grew from {allowed} to {size} lines; shorten it"
    return f"{where}: {size} lines (limit {LIMIT}; split it)"


def main() -> int:
    found = lengths(ROOT / "src")
    errors = ratchet.check(found, ALLOW, over)
    for error in errors:
        print(error, file=sys.stderr)
    print(
        f"functions over {LIMIT} lines: {len(found)} (listed as older than the check: {len(ratchet.read(ALLOW))})"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-allow"]:
        header = (
            "functions longer than the limit when tools/long_functions.py came in; only ever remove lines"
        )
        ratchet.write(ALLOW, header, lengths(ROOT / "src"))
        sys.exit(0)
    sys.exit(main())
