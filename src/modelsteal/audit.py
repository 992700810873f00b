"""Offline audit: replay a gateway's stored query log through the detectors.

The log must hold inputs (policy ``store_inputs: true``). The replay sees what the live
detectors saw: the gateway logs, with each input, the model's own probabilities, and
records each served model's published feature space, so the verdicts are the live ones
and do not depend on ``--model``. Logs written before those were kept fall back on the
served model directories (``--model``), and without them on what the client was shown
(probabilities, or one-hot labels) and the range of the logged inputs.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelsteal.defenses.detectors import DetectionConfig
from modelsteal.defenses.monitor import Monitor
from modelsteal.errors import InvalidInput
from modelsteal.feature_space import FeatureSpace
from modelsteal.gateway.store import unpack_answers
from modelsteal.victims.model_dir import load_model_dir


@dataclass
class AuditRow:
    client: str
    rows: int = 0
    alarms: list[dict[str, Any]] = field(default_factory=list)  # detector, from which query, stream, reason

    @property
    def suspect(self) -> bool:
        return bool(self.alarms)

    @property
    def first(self) -> dict[str, Any] | None:
        return min(self.alarms, key=lambda a: a["query"]) if self.alarms else None


def _read_log(path: Path, db: str | Path) -> tuple[dict[str, Any], list[Any], dict[str, Any]]:
    """The clients (created, tier), the answered rows of the query log, and what the models published."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        clients = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT name, created, tier FROM clients")}
        columns = {r[1] for r in conn.execute("PRAGMA table_info(query_log)")}
        proba_column = "model_proba" if "model_proba" in columns else "NULL"
        log = conn.execute(
            f"SELECT ts, client_name, ip, model, rows, answer, inputs, {proba_column} FROM query_log"
            " WHERE status = 200 AND client_name IS NOT NULL ORDER BY id"
        ).fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        published = (
            {n: json.loads(t) for n, t in conn.execute("SELECT name, description FROM models")}
            if "models" in tables
            else {}
        )
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{db} is not a modelsteal gateway database: {exc}") from None
    finally:
        conn.close()
    return clients, log, published


def _batches(log: list[Any]) -> list[Any]:
    """The logged batches with their inputs (and the probabilities the live detectors saw, if kept)."""
    batches = []
    for ts, client, ip, model, rows, answer, inputs, logged in log:
        if inputs is None:
            continue
        X = np.frombuffer(inputs, dtype="<f8").reshape(int(rows), -1).copy()
        seen = None if logged is None else np.frombuffer(logged, dtype="<f8").reshape(int(rows), -1).copy()
        batches.append((ts, client, ip, model, X, answer, seen))
    return batches


def _replayed_proba(X: Any, answer: Any, seen: Any, served: Any) -> Any:
    """What the detectors see for a logged batch: what they saw live, else the served model's
    answer now, else what the client was shown."""
    if seen is not None:
        return seen
    if served is not None:
        return served.predict_proba(X)
    shown = unpack_answers(answer)
    if shown.probabilities is not None:
        return shown.probabilities
    k = int(shown.labels.max()) + 1 if shown.labels.size else 1
    return np.eye(max(k, 2))[shown.labels]


def audit_log(
    db: str | Path, *, config: DetectionConfig | None = None, model_dirs: list[str | Path] | None = None
) -> list[AuditRow]:
    """Every client of the log at ``db``, with the alarms a replay raises and from which query."""
    path = Path(db)
    if not path.exists():
        raise InvalidInput(f"no database at {db}; pass the gateway's `db` file")
    victims: dict[str, Any] = {}
    for d in model_dirs or []:
        md = load_model_dir(d)
        victims[str(md.card.get("name", Path(d).name))] = md.victim
    clients, log, published = _read_log(path, db)
    if log and all(entry[6] is None for entry in log):
        raise InvalidInput("the log holds no inputs; serve with a policy that sets store_inputs: true")
    spaces: dict[str, FeatureSpace] = {
        name: FeatureSpace.from_dict(d["feature_space"])
        for name, d in published.items()
        if "feature_space" in d
    }
    for name, victim in victims.items():
        spaces.setdefault(name, victim.feature_space)
    batches = _batches(log)
    for model in {b[3] for b in batches} - set(spaces):  # logs older than the models table
        data = np.vstack([b[4] for b in batches if b[3] == model])
        spaces[model] = FeatureSpace.from_data(np.nan_to_num(data))
    monitor = Monitor(config or DetectionConfig())
    report: dict[str, AuditRow] = {name: AuditRow(name) for name in clients}
    for ts, client, ip, model, X, answer, seen in batches:
        proba = _replayed_proba(X, answer, seen, victims.get(model))
        row = report.setdefault(client, AuditRow(client))
        before = row.rows
        events = monitor.observe(
            client=client,
            created=clients.get(client, (0.0, ""))[0],
            ip=ip or "",
            model=model,
            space=spaces[model],
            n_classes=proba.shape[1],
            X=X,
            proba=proba,
            now=float(ts),
        )
        row.rows += X.shape[0]
        for event in events:
            for member in event.members:
                target = report.setdefault(member, AuditRow(member))
                query = target.rows if member != client else before + X.shape[0]
                target.alarms.append(
                    {
                        "detector": event.alarm.detector,
                        "query": query,
                        "stream": event.stream,
                        "reason": event.alarm.reason,
                    }
                )
    return sorted(
        report.values(), key=lambda r: (not r.suspect, r.first["query"] if r.first else 0, r.client)
    )
