"""Reading the YAML/JSON files users hand us (feature spaces, API templates, policies)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from modelsteal.errors import InvalidInput


def yaml_error_line(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: where, and what (PyYAML's own message spans five)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(exc, "context", None)
    return f"{where}{problem}" + (f" ({context})" if context else "")


def read_yaml(path: str | Path, what: str) -> Any:
    """The parsed contents of ``path`` (YAML, so JSON too); ``what`` names the file in errors."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{what} {path} is not valid YAML or JSON: {yaml_error_line(exc)}") from None
