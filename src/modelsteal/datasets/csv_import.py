"""Import a user's CSV file as a :class:`Dataset`.

Numeric columns are kept; non-numeric columns are one-hot encoded and the encoding is
recorded in the :class:`FeatureSpace` (so uniform queries pick one level per feature).
Rows with a missing value (an empty cell or ``?``) are dropped and counted.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from modelsteal.datasets.base import Dataset, split
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import CategoricalGroup, FeatureSpace

MISSING_MARKERS = ["?", "", "NA", "N/A", "NaN", "nan", "null", "NULL"]
MAX_LEVELS = 100
#: a text column with more distinct values than this (and than this share of the rows) is
#: probably an identifier, whose one-hot columns only let a model memorise rows
ID_LIKE_LEVELS = 20
ID_LIKE_SHARE = 0.5


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"CSV file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{str(path)!r} is a directory; pass a CSV file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"{path.name} is not UTF-8 text (byte {exc.start}); re-save it as UTF-8 CSV"
        ) from None
    if "\x00" in text:
        raise InvalidInput(f"{path.name} holds NUL bytes; it is not a text CSV file")
    # Normalise CR and CRLF line endings to LF so every parser sees the same rows.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_csv_frame(path: str | Path) -> pd.DataFrame:
    """The cells of a CSV file as stripped text, missing markers as NaN (no row dropped yet)."""
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise InvalidInput(f"{path.name} is empty; it needs a header row and data rows")
    try:
        dialect = csv.Sniffer().sniff(text[:20000], delimiters=",;\t|")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            skipinitialspace=True,
            na_values=MISSING_MARKERS,
            keep_default_na=False,
            dtype=str,
            quotechar='"',
        )
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{path.name} has no columns; it needs a header row") from None
    except pd.errors.ParserError as exc:
        raise InvalidInput(f"{path.name} is not valid CSV: {exc}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise InvalidInput(f"{path.name} has a header but no data rows")
    frame = frame.apply(lambda col: col.str.strip())
    return frame.replace({m: np.nan for m in MISSING_MARKERS})


def load_csv(path: str | Path, target: str, *, name: str | None = None) -> Dataset:
    """Read ``path`` and return a split :class:`Dataset` with ``target`` as the label."""
    path = Path(path)
    frame = read_csv_frame(path)
    if target not in frame.columns:
        raise InvalidInput(
            f"no column {target!r} in {path.name}; its columns are: {', '.join(frame.columns)}"
        )
    rows_read = len(frame)
    frame_all = frame
    frame = frame.dropna(axis=0, how="any")
    dropped = rows_read - len(frame)
    if len(frame) == 0:
        raise InvalidInput(f"every row of {path.name} has a missing value; nothing is left")

    y_raw = frame[target].to_numpy()
    y_numeric = pd.to_numeric(frame[target], errors="coerce")
    if not y_numeric.isna().any():
        # numeric targets sort by value, not as text ("10" after "9")
        y_raw = y_numeric.to_numpy()
        if np.all(np.equal(np.mod(y_raw, 1), 0)):
            y_raw = y_raw.astype(np.int64)
    if np.unique(y_raw).size < 2:
        before = frame_all[target].dropna().unique()
        hint = (
            f" after dropping {dropped} rows with a missing value (with them it has {before.size} classes: "
            "fill in or remove the empty cells of the other columns)"
            if dropped and before.size >= 2
            else ""
        )
        raise InvalidInput(
            f"column {target!r} of {path.name} has a single class{hint}; a classifier needs two or more"
        )
    warnings: list[str] = []
    n_classes = int(np.unique(y_raw).size)
    if n_classes > max(20, len(frame) // 10) and not y_numeric.isna().any():
        warnings.append(
            f"the target {target!r} is numeric with {n_classes} distinct values over {len(frame)} rows: "
            "modelsteal trains classifiers, so each value is a class; bin it into a few classes if it is a quantity"
        )

    columns: list[np.ndarray] = []
    names: list[str] = []
    lower: list[float] = []
    upper: list[float] = []
    groups: list[CategoricalGroup] = []
    for col in frame.columns:
        if col == target:
            continue
        numeric = pd.to_numeric(frame[col], errors="coerce")
        if not numeric.isna().any():
            values = numeric.to_numpy(dtype=np.float64)
            if values.size >= ID_LIKE_LEVELS and np.all(np.mod(values, 1) == 0):
                distinct = np.unique(values)
                if distinct.size == values.size and distinct[-1] - distinct[0] == values.size - 1:
                    warnings.append(
                        f"column {col!r} numbers the rows ({int(distinct[0])}..{int(distinct[-1])}, each once): "
                        "an identifier tells a model nothing about new rows; drop it"
                    )
            columns.append(values)
            names.append(col)
            lower.append(float(values.min()))
            upper.append(float(values.max()))
            continue
        levels = sorted(frame[col].unique().tolist())
        if len(levels) > max(ID_LIKE_LEVELS, ID_LIKE_SHARE * len(frame)):
            warnings.append(
                f"column {col!r} has {len(levels)} distinct text values in {len(frame)} rows (an identifier?): "
                f"it becomes {len(levels)} one-hot features; drop it if it does not describe the row"
            )
        if len(levels) > MAX_LEVELS:
            raise InvalidInput(
                f"column {col!r} of {path.name} has {len(levels)} distinct text values; "
                f"one-hot encoding stops at {MAX_LEVELS}: drop it or make it numeric"
            )
        start = len(names)
        for level in levels:
            columns.append((frame[col].to_numpy() == level).astype(np.float64))
            names.append(f"{col}={level}")
            lower.append(0.0)
            upper.append(1.0)
        groups.append(CategoricalGroup(col, tuple(levels), tuple(range(start, start + len(levels)))))
    if not columns:
        raise InvalidInput(f"{path.name} has no feature columns besides {target!r}")
    X = np.column_stack(columns)
    space = FeatureSpace(tuple(names), np.asarray(lower), np.asarray(upper), tuple(groups))
    info = {
        "source": str(path),
        "target": target,
        "rows_read": rows_read,
        "rows_dropped_missing": dropped,
        "categorical": [g.name for g in groups],
        "warnings": warnings,
    }
    return split(
        name or path.stem,
        X,
        y_raw,
        space,
        f"{path.name}: {len(frame)} rows ({dropped} dropped for missing values), "
        f"{len(names)} features after one-hot encoding of {len(groups)} categorical columns",
        info,
    )
