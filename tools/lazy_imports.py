"""An import inside a function must say why it is there.

The import-linter contract already sees imports inside functions, so none hides a cycle.
What is left is the reason: an import belongs at the top of its module unless it is lazy on
purpose (start-up time of a light command, an optional dependency, a worker process). Such
an import carries a comment on its line or the line above, or its module declares the
reason once in a line ``# lazy imports: <why>``.

Modules that held undeclared ones when this check came in are counted in
``tools/lazy_imports.allow``; the check fails when a count grows, and asks for the list to be
lowered when it falls, so the list only shrinks.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import ratchet

ROOT = Path(__file__).resolve().parents[1]
ALLOW = ROOT / "tools" / "lazy_imports.allow"
DECLARATION = "# lazy imports:"


def undeclared(path: Path) -> int:
    """Imports inside functions of ``path`` with no comment and no module declaration."""
    source = path.read_text()
    if any(line.startswith(DECLARATION) for line in source.splitlines()):
        return 0
    lines = source.splitlines()
    count = 0
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import | ast.ImportFrom):
                    here, above = lines[sub.lineno - 1], lines[sub.lineno - 2] if sub.lineno > 1 else ""
                    if "#" not in here and not above.strip().startswith("#"):
                        count += 1
    return count


def counts() -> dict[str, int]:
    found = {p.relative_to(ROOT).as_posix(): undeclared(p) for p in sorted((ROOT / "src").rglob("*.py"))}
    return {k: v for k, v in found.items() if v}


def over(where: str, allowed: int, n: int) -> str:
    return (
        f"{where}: {n} imports inside functions say no reason (was {allowed}); move them to "
        "the top, or comment why they are lazy"
    )


def main() -> int:
    found = counts()
    errors = ratchet.check(found, ALLOW, over)
    for error in errors:
        print(error, file=sys.stderr)
    print(f"imports inside functions without a reason: {sum(found.values())} in {len(found)} modules")
    return 1 if errors else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-allow"]:
        header = (
            "imports inside functions without a reason when tools/lazy_imports.py came in; only lower these"
        )
        ratchet.write(ALLOW, header, counts())
        sys.exit(0)
    sys.exit(main())
