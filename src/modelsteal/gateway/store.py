"""SQLite storage for API keys, usage and the query log (WAL mode).

Answers (and, when the policy says so, inputs) are stored as packed little-endian
float64 bytes: exact, and cheap enough to write on every request.

Durability: a request's log row and its usage are committed in one transaction before
its answer is sent. With ``synchronous=NORMAL`` (the default) a committed transaction is
in the WAL file, so it survives the server process being killed at any moment; it may be
lost if the machine itself loses power. ``durable=True`` sets ``synchronous=FULL`` and
survives that too, at the cost of an fsync per request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers

SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    tier TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    blocked INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    rows INTEGER NOT NULL DEFAULT 0,
    spent REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS query_log (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    client_id INTEGER,
    client_name TEXT,
    ip TEXT,
    model TEXT,
    endpoint TEXT,
    rows INTEGER NOT NULL,
    charged_rows INTEGER NOT NULL,
    cost REAL NOT NULL,
    status INTEGER NOT NULL,
    code TEXT,
    input_digest TEXT,
    answer BLOB,
    inputs BLOB
);
CREATE INDEX IF NOT EXISTS query_log_client ON query_log (client_id, ts);
CREATE TABLE IF NOT EXISTS models (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alarms (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    client_name TEXT NOT NULL,
    stream TEXT NOT NULL,
    model TEXT,
    detector TEXT NOT NULL,
    score REAL NOT NULL,
    threshold REAL NOT NULL,
    reason TEXT NOT NULL,
    at_row INTEGER NOT NULL,
    client_rows INTEGER NOT NULL,
    action TEXT NOT NULL
);
"""

#: columns added after the first release; an older database gains them when opened
MIGRATIONS = {
    "clients": [
        ("flagged", "INTEGER NOT NULL DEFAULT 0"),
        ("throttled", "INTEGER NOT NULL DEFAULT 0"),
        ("degraded", "INTEGER NOT NULL DEFAULT 0"),
    ],
    "query_log": [("alarms", "TEXT"), ("model_proba", "BLOB")],
}
CLIENT_FLAGS = ("revoked", "blocked", "flagged", "throttled", "degraded")

KEY_PREFIX = "msk_"


def _client(row: Any) -> Client:
    return Client(
        row[0],
        row[1],
        row[2],
        bool(row[3]),
        bool(row[4]),
        row[5],
        row[6],
        row[7],
        row[8],
        bool(row[9]),
        bool(row[10]),
        bool(row[11]),
    )


def hash_key(key: str) -> str:
    """Keys are 256-bit random tokens, so one SHA-256 is enough to store them safely."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Client:
    id: int
    name: str
    tier: str
    revoked: bool
    blocked: bool
    requests: int
    rows: int
    spent: float
    created: float
    flagged: bool = False
    throttled: bool = False
    degraded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tier": self.tier,
            "revoked": self.revoked,
            "blocked": self.blocked,
            "requests": self.requests,
            "rows": self.rows,
            "spent": round(self.spent, 10),
            "created": self.created,
            "flagged": self.flagged,
            "throttled": self.throttled,
            "degraded": self.degraded,
        }


@dataclass(frozen=True)
class LogEntry:
    client: Client | None
    ip: str
    model: str | None
    endpoint: str
    rows: int
    charged_rows: int
    cost: float
    status: int
    code: str | None
    input_digest: str | None
    answer: Answers | None = None
    inputs: NDArray[np.float64] | None = None
    alarms: tuple[dict[str, Any], ...] = ()
    model_proba: NDArray[np.float64] | None = None  # what the detectors saw (with store_inputs)


def pack_answers(answers: Answers) -> bytes:
    """Answers as bytes for the log: fast to write, exact to read back (see ``unpack_answers``).

    Layout: a JSON header line, then labels (int64), then probabilities or top-k classes
    and probabilities (float64), all little-endian.
    """
    parts = [answers.labels.astype("<i8").tobytes()]
    header: dict[str, Any] = {"n": len(answers)}
    if answers.probabilities is not None:
        header["probabilities"] = answers.probabilities.shape[1]
        parts.append(answers.probabilities.astype("<f8").tobytes())
    if answers.top_k_classes is not None and answers.top_k_probabilities is not None:
        header["top_k"] = answers.top_k_classes.shape[1]
        parts.append(answers.top_k_classes.astype("<i8").tobytes())
        parts.append(answers.top_k_probabilities.astype("<f8").tobytes())
    if answers.confidences is not None:
        header["confidence"] = True
        parts.append(answers.confidences.astype("<f8").tobytes())
    return json.dumps(header).encode() + b"\n" + b"".join(parts)


def unpack_answers(blob: bytes) -> Answers:
    head, _, body = blob.partition(b"\n")
    header = json.loads(head)
    n = int(header["n"])
    offset = 8 * n
    labels = np.frombuffer(body[:offset], dtype="<i8").astype(np.int64)
    probabilities = top_classes = top_probs = None
    if "probabilities" in header:
        c = int(header["probabilities"])
        probabilities = np.frombuffer(body[offset : offset + 8 * n * c], dtype="<f8").reshape(n, c).copy()
        offset += 8 * n * c
    if "top_k" in header:
        k = int(header["top_k"])
        top_classes = (
            np.frombuffer(body[offset : offset + 8 * n * k], dtype="<i8").reshape(n, k).astype(np.int64)
        )
        offset += 8 * n * k
        top_probs = np.frombuffer(body[offset : offset + 8 * n * k], dtype="<f8").reshape(n, k).copy()
        offset += 8 * n * k
    confidences = None
    if header.get("confidence"):
        confidences = np.frombuffer(body[offset : offset + 8 * n], dtype="<f8").copy()
    return Answers(labels, probabilities, top_classes, top_probs, confidences)


class Store:
    """Keys, usage and the query log in one SQLite file; one connection per thread."""

    def __init__(self, path: str | Path, *, durable: bool = False) -> None:
        self.path = str(path)
        self.durable = durable
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)
            for table, columns in MIGRATIONS.items():
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                for name, decl in columns:
                    if name not in have:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    # ------------------------------------------------------------------ keys
    def create_key(self, name: str, tier: str = "default", *, created: float | None = None) -> str:
        """Create a client; returns its key, which is shown once and stored only hashed.

        ``created`` back-dates the key (importing keys, or simulating a client base).
        """
        if not name or len(name) > 100:
            raise InvalidInput("a key needs a name of 1 to 100 characters")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        try:
            self._conn().execute(
                "INSERT INTO clients (name, tier, key_hash, created) VALUES (?, ?, ?, ?)",
                (name, tier, hash_key(key), time.time() if created is None else float(created)),
            )
        except sqlite3.IntegrityError:
            raise InvalidInput(f"a key named {name!r} exists already; choose another name") from None
        return key

    def authenticate(self, key: str) -> Client | None:
        digest = hash_key(key)
        row = (
            self._conn()
            .execute(
                "SELECT id, name, tier, revoked, blocked, requests, rows, spent, created, flagged, throttled, degraded, key_hash FROM clients WHERE key_hash = ?",
                (digest,),
            )
            .fetchone()
        )
        if row is None or not hmac.compare_digest(row[12], digest):
            return None
        return _client(row)

    def client(self, name: str) -> Client:
        row = (
            self._conn()
            .execute(
                "SELECT id, name, tier, revoked, blocked, requests, rows, spent, created, flagged, throttled, degraded FROM clients WHERE name = ?",
                (name,),
            )
            .fetchone()
        )
        if row is None:
            raise InvalidInput(f"no client named {name!r}")
        return _client(row)

    def clients(self) -> list[Client]:
        rows = (
            self._conn()
            .execute(
                "SELECT id, name, tier, revoked, blocked, requests, rows, spent, created, flagged, throttled, degraded FROM clients ORDER BY id"
            )
            .fetchall()
        )
        return [_client(r) for r in rows]

    def set_flag(self, name: str, flag: str, value: bool) -> Client:
        if flag not in CLIENT_FLAGS:
            raise ValueError(flag)
        cur = self._conn().execute(f"UPDATE clients SET {flag} = ? WHERE name = ?", (int(value), name))
        if cur.rowcount == 0:
            raise InvalidInput(f"no client named {name!r}")
        return self.client(name)

    # ------------------------------------------------------------------ log
    def record(self, entry: LogEntry) -> None:
        """Append to the log and, for an answered request, add to the client's usage."""
        conn = self._conn()
        answer = None if entry.answer is None else pack_answers(entry.answer)
        inputs = None if entry.inputs is None else np.ascontiguousarray(entry.inputs, dtype="<f8").tobytes()
        proba = (
            None
            if entry.model_proba is None
            else np.ascontiguousarray(entry.model_proba, dtype="<f8").tobytes()
        )
        client = entry.client
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO query_log (ts, client_id, client_name, ip, model, endpoint, rows, charged_rows, cost,"
                " status, code, input_digest, answer, inputs, alarms, model_proba)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    time.time(),
                    client.id if client else None,
                    client.name if client else None,
                    entry.ip,
                    entry.model,
                    entry.endpoint,
                    entry.rows,
                    entry.charged_rows,
                    entry.cost,
                    entry.status,
                    entry.code,
                    entry.input_digest,
                    answer,
                    inputs,
                    json.dumps(list(entry.alarms)) if entry.alarms else None,
                    proba,
                ),
            )
            if client is not None and entry.charged_rows:
                conn.execute(
                    "UPDATE clients SET requests = requests + 1, rows = rows + ?, spent = spent + ? WHERE id = ?",
                    (entry.charged_rows, entry.cost, client.id),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def log(self, limit: int = 1000) -> list[dict[str, Any]]:
        cur = self._conn().execute("SELECT * FROM query_log ORDER BY id DESC LIMIT ?", (limit,))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    # ------------------------------------------------------------------ models
    def record_models(self, descriptions: dict[str, dict[str, Any]]) -> None:
        """What each served model publishes (feature space, classes): ``audit`` replays with it."""
        conn = self._conn()
        now = time.time()
        for name, description in descriptions.items():
            conn.execute(
                "INSERT INTO models (name, description, updated) VALUES (?, ?, ?) ON CONFLICT(name) "
                "DO UPDATE SET description = excluded.description, updated = excluded.updated",
                (name, json.dumps(description), now),
            )

    def models(self) -> dict[str, dict[str, Any]]:
        rows = self._conn().execute("SELECT name, description FROM models").fetchall()
        return {name: json.loads(text) for name, text in rows}

    # ------------------------------------------------------------------ alarms
    def record_alarm(
        self,
        client: str,
        stream: str,
        model: str | None,
        alarm: dict[str, Any],
        client_rows: int,
        action: str,
    ) -> None:
        self._conn().execute(
            "INSERT INTO alarms (ts, client_name, stream, model, detector, score, threshold, reason, at_row,"
            " client_rows, action) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                client,
                stream,
                model,
                alarm["detector"],
                float(alarm["score"]),
                float(alarm["threshold"]),
                alarm["reason"],
                int(alarm["at_row"]),
                int(client_rows),
                action,
            ),
        )

    def alarms(self, client: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM alarms" + (" WHERE client_name = ?" if client else "") + " ORDER BY id"
        cur = self._conn().execute(sql, (client,) if client else ())
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
