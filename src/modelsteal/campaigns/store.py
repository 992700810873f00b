"""A campaign's results: one SQLite file, written by the driver only.

Workers return results; the driver writes each one in its own transaction as it arrives,
so a run killed at any moment (SIGKILL included) loses at most the cells in flight, and a
re-run finds every finished cell by its stable id and runs only the others.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelsteal.errors import InvalidInput

STORE_NAME = "campaign.db"
SCHEMA_VERSION = 1
#: result fields that measure the machine, not the cell: left out when two stores are compared
TIMING_FIELDS = frozenset(
    {"seconds", "cpu_seconds", "pow_seconds", "wall_seconds", "finished", "ms_per_request"}
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    victim TEXT NOT NULL,
    policy TEXT NOT NULL,
    attack TEXT NOT NULL,
    budget INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,          -- done | failed | skipped
    content TEXT NOT NULL,         -- the cell's spec (JSON)
    result TEXT,                   -- what the cell measured (JSON)
    error TEXT,
    finished REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS victims (
    name TEXT PRIMARY KEY,
    content TEXT NOT NULL,
    info TEXT NOT NULL             -- where it lives, its accuracy and its training cost (JSON)
);
"""


@dataclass(frozen=True)
class CellRow:
    id: str
    kind: str
    victim: str
    policy: str
    attack: str
    budget: int
    seed: int
    status: str
    content: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    finished: float

    def flat(self) -> dict[str, Any]:
        """One flat record: the cell's coordinates, status and every scalar it measured."""
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "victim": self.victim,
            "policy": self.policy,
            "attack": self.attack,
            "budget": self.budget,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
        }
        for key, value in self.result.items():
            if isinstance(value, str | int | float | bool) or value is None:
                out[key] = value
        return out

    def record(self) -> dict[str, Any]:
        """The flat record with everything nested too: the cell's result and content (raw JSON)."""
        return {**self.flat(), "result": self.result, "content": self.content}


class CampaignStore:
    """The store of one campaign in ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.path = self.folder / STORE_NAME
        self.folder.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)

    @classmethod
    def open_existing(cls, folder: str | Path) -> CampaignStore:
        if not (Path(folder) / STORE_NAME).is_file():
            raise InvalidInput(
                f"{folder} holds no campaign store ({STORE_NAME}); run `modelsteal campaign run` first"
            )
        return cls(folder)

    # ---------------------------------------------------------------- meta
    def meta(self) -> dict[str, str]:
        return {k: v for k, v in self.conn.execute("SELECT key, value FROM meta")}

    def claim(
        self, campaign_id: str, name: str, source: str, *, resume: bool, extra: dict[str, str] | None = None
    ) -> None:
        """Bind the store to a campaign; another campaign's store is refused unless ``resume``.

        With ``resume`` the store is re-bound: cells whose content did not change keep their
        results (their ids are the same), the others run.
        """
        meta = self.meta()
        held = meta.get("campaign_id")
        if held is not None and held != campaign_id and not resume:
            raise InvalidInput(
                f"{self.folder} holds the results of another campaign ({meta.get('name')!r}, or an earlier "
                "version of this file); pass another --out, or --resume to keep its matching cells"
            )
        for key, value in (
            ("campaign_id", campaign_id),
            ("name", name),
            ("source", source),
            ("schema", str(SCHEMA_VERSION)),
            *sorted((extra or {}).items()),
        ):
            self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---------------------------------------------------------------- cells
    def done_ids(self, *, retry_failed: bool = False) -> set[str]:
        statuses = ("done", "skipped") if retry_failed else ("done", "skipped", "failed")
        marks = ",".join("?" * len(statuses))
        return {r[0] for r in self.conn.execute(f"SELECT id FROM cells WHERE status IN ({marks})", statuses)}

    def write(
        self,
        cell_id: str,
        coordinates: dict[str, Any],
        content: dict[str, Any],
        status: str,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO cells (id, kind, victim, policy, attack, budget, seed, status, content, "
            "result, error, finished) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cell_id,
                coordinates["kind"],
                coordinates["victim"],
                coordinates["policy"],
                coordinates["attack"],
                int(coordinates["budget"]),
                int(coordinates["seed"]),
                status,
                json.dumps(content, sort_keys=True, default=str),
                json.dumps(result or {}, sort_keys=True, default=float),
                error,
                time.time(),
            ),
        )

    def rows(self, ids: Iterable[str] | None = None) -> list[CellRow]:
        rows = [
            CellRow(
                id=r[0],
                kind=r[1],
                victim=r[2],
                policy=r[3],
                attack=r[4],
                budget=int(r[5]),
                seed=int(r[6]),
                status=r[7],
                content=json.loads(r[8]),
                result=json.loads(r[9] or "{}"),
                error=r[10],
                finished=float(r[11]),
            )
            for r in self.conn.execute(
                "SELECT id, kind, victim, policy, attack, budget, seed, status, content, result, error, finished "
                "FROM cells ORDER BY victim, policy, attack, budget, seed, id"
            )
        ]
        if ids is not None:
            wanted = set(ids)
            rows = [r for r in rows if r.id in wanted]
        return rows

    # ---------------------------------------------------------------- victims
    def record_victim(self, name: str, content: dict[str, Any], info: dict[str, Any]) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO victims (name, content, info) VALUES (?, ?, ?)",
            (name, json.dumps(content, sort_keys=True), json.dumps(info, sort_keys=True, default=float)),
        )

    def victims(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"content": json.loads(content), **json.loads(info)}
            for name, content, info in self.conn.execute("SELECT name, content, info FROM victims")
        }

    def close(self) -> None:
        self.conn.close()


def read_store(
    folder: str | Path,
) -> tuple[list[CellRow], dict[str, dict[str, Any]], dict[str, str]]:
    """A finished campaign folder's rows, victims and meta, the store closed again."""
    store = CampaignStore.open_existing(folder)
    try:
        return store.rows(), store.victims(), store.meta()
    finally:
        store.close()


def comparable(rows: list[CellRow]) -> list[dict[str, Any]]:
    """The rows without what measures the machine (times): equal for equal seeds on any machine."""
    out = []
    for row in rows:
        result = {k: v for k, v in row.result.items() if k not in TIMING_FIELDS}
        result.pop("history_seconds", None)
        if "history" in result:
            result["history"] = [{k: v for k, v in p.items() if k != "seconds"} for p in result["history"]]
        out.append({"id": row.id, "status": row.status, "error": row.error, "result": result})
    return out
