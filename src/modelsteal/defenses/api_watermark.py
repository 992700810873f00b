"""An API-side watermark: a few answers, chosen by a keyed hash, are wrong on purpose (DAWN).

Szyller, Atli, Marchal, Asokan. "DAWN: Dynamic Adversarial Watermarking of Neural
Networks", ACM MM 2021. The API answers a small ``share`` of queries — those whose keyed
hash of (API key, input) falls below it — with a wrong label, the same one each time the
same key asks the same input, and records them. A thief that trains a copy on its answers
learns those wrong labels on those inputs; a model that never saw the answers gives them
only by chance. The owner verifies a suspect by asking it the recorded inputs
(``modelsteal verify SUSPECT --method dawn``), and since every record carries the API key
that received it, the verdict names whose answers trained the copy.

Departures from the paper: the wrong label swaps places with the top class in the
probability vector (the answer stays a plausible distribution, the same numbers in another
order) instead of a fresh label only; the records live in a SQLite file the owner keeps
(``store``), beside the policy; the verification's p-value is an exact test against the
independent models' agreement with each watermark (``ownership/api_watermark.py``), as
every ownership method here is calibrated on independents.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from modelsteal.defenses.transform_base import FloatArray, Transform, check_number, row_seeds
from modelsteal.errors import InvalidInput

#: the paper's share of watermarked queries
DEFAULT_SHARE = 0.005
_SCHEMA = """
CREATE TABLE IF NOT EXISTS watermarks (
    client TEXT NOT NULL,
    digest TEXT NOT NULL,
    row BLOB NOT NULL,
    label INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (client, digest)
)
"""


class WatermarkStore:
    """The owner's record of watermarked answers: (API key, input, the wrong label)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            if not self.path.parent.is_dir():
                raise InvalidInput(f"dawn: the folder of the watermark store {self.path} does not exist")
            self._conn = sqlite3.connect(self.path, check_same_thread=False)
            self._conn.execute(_SCHEMA)
            self._conn.commit()
        return self._conn

    def record(self, client: str, rows: FloatArray, labels: NDArray[np.int64]) -> None:
        items = []
        for row, label in zip(np.ascontiguousarray(rows, dtype=np.float64), labels, strict=True):
            raw = row.tobytes()
            items.append((client, hashlib.sha256(raw).hexdigest(), raw, int(label), time.time()))
        with self._lock:
            conn = self._connect()
            conn.executemany("INSERT OR IGNORE INTO watermarks VALUES (?, ?, ?, ?, ?)", items)
            conn.commit()

    def load(self) -> tuple[FloatArray, NDArray[np.int64], list[str]]:
        """Every record: the inputs, the wrong labels, the API keys, oldest first."""
        if not self.path.is_file():
            raise InvalidInput(
                f"no watermark store at {self.path}: serve the model with a dawn transform first "
                "(transforms: [{dawn: {secret: ..., store: FILE}}])"
            )
        with self._lock:
            rows = (
                self._connect()
                .execute("SELECT client, row, label FROM watermarks ORDER BY created, client, digest")
                .fetchall()
            )
        if not rows:
            return np.zeros((0, 0)), np.zeros(0, dtype=np.int64), []
        X = np.vstack([np.frombuffer(r[1], dtype=np.float64) for r in rows])
        return X, np.array([r[2] for r in rows], dtype=np.int64), [str(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class ApiWatermark(Transform):
    """DAWN (Szyller et al. 2021): ``share`` of queries, chosen by a keyed hash of (key, input),
    answered with a consistent wrong label and recorded in ``store`` (see the module doc).

    Parameters
    ----------
    secret:
        The keyed hash's secret (at least 8 characters); keep it, or the records cannot be
        extended consistently after a restart.
    store:
        The SQLite file of records (relative to the policy file).
    share:
        Share of queries watermarked, in (0, 0.5] (the paper: 0.005).
    """

    name: ClassVar[str] = "dawn"
    keyed = True
    paths = ("store",)

    def __init__(self, *, secret: str, store: str, share: float = DEFAULT_SHARE) -> None:
        if not isinstance(secret, str) or len(secret) < 8:
            raise InvalidInput("dawn: secret must be a string of at least 8 characters")
        if not isinstance(store, str | Path) or not str(store):
            raise InvalidInput("dawn: store must name the SQLite file that keeps the records")
        self.secret = secret
        self.store_path = str(store)
        self.share = check_number("dawn", "share", share, low=0.0, high=0.5, open_low=True)
        self.store = WatermarkStore(self.store_path)

    def get_params(self) -> dict[str, Any]:
        return {"secret": self.secret, "store": self.store_path, "share": self.share}

    def selected(
        self, X: FloatArray, key: str, n_classes: int
    ) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
        """Which rows ``key`` gets watermarked, and each row's shift from the top class (1..K-1)."""
        seeds = np.array(row_seeds(self.secret, key, X), dtype=np.uint64)
        uniform = (seeds >> np.uint64(11)).astype(np.float64) / 2.0**53
        shift = 1 + (seeds % np.uint64(max(n_classes - 1, 1))).astype(np.int64)
        return uniform < self.share, shift

    def apply(self, P: FloatArray, X: FloatArray, key: str) -> FloatArray:
        n_classes = P.shape[1]
        mask, shift = self.selected(X, key, n_classes)
        if n_classes < 2 or not mask.any():
            return P
        out = P.copy()
        idx = np.flatnonzero(mask)
        top = P[idx].argmax(axis=1)
        wrong = (top + shift[idx]) % n_classes
        out[idx, top], out[idx, wrong] = P[idx, wrong], P[idx, top]
        self.store.record(key, X[idx], wrong)
        return out
