"""Quotas under concurrency: exactly min(Q, asked) rows admitted, every request logged."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from modelsteal.gateway.store import Store
from modelsteal.victims import save_model_dir
from tests.servers import gateway_server, redis_server

pytestmark = pytest.mark.e2e

CLIENTS = 50
REQUESTS_EACH = 8  # batch-1 requests: 400 rows asked
QUOTA = 250


def policy_file(root: Path) -> Path:
    path = root / "policy.yaml"
    path.write_text(
        f"""
tiers:
  default:
    key_limits: ["{QUOTA}/day"]
    ip_limits: ["100000/hour"]
    price_per_row: 0.001
"""
    )
    return path


def hammer(urls: list[str], key: str, row: list[float]) -> list[int]:
    """CLIENTS threads, each with its own connection, each sending REQUESTS_EACH requests."""

    def client(i: int) -> list[int]:
        url = urls[i % len(urls)]
        with httpx.Client(timeout=60) as c:
            return [
                c.post(
                    url + "/v1/models/digits/predict",
                    json={"instances": [row]},
                    headers={"Authorization": f"Bearer {key}"},
                ).status_code
                for _ in range(REQUESTS_EACH)
            ]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [s for statuses in pool.map(client, range(CLIENTS)) for s in statuses]


def check(db: Path, statuses: list[int]) -> None:
    asked = CLIENTS * REQUESTS_EACH
    assert statuses.count(200) == min(QUOTA, asked)
    assert statuses.count(429) == asked - min(QUOTA, asked)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*) FROM query_log").fetchone()[0] == asked
    assert conn.execute("SELECT SUM(charged_rows) FROM query_log").fetchone()[0] == QUOTA
    assert conn.execute("SELECT rows, requests FROM clients").fetchone() == (QUOTA, QUOTA)


@pytest.fixture()
def setup(tmp_path: Path, victim_factory: Callable) -> tuple[Path, Path, Path, str, list[float]]:
    victim, data = victim_factory("digits", "softmax")
    model_dir = save_model_dir(victim, data, tmp_path / "digits", seed=0)
    db = tmp_path / "gw.db"
    store = Store(db)
    key = store.create_key("shared")
    store.close()
    return model_dir, db, policy_file(tmp_path), key, data.X_test[0].tolist()


def test_fifty_concurrent_clients_one_process(setup: tuple) -> None:
    model_dir, db, policy, key, row = setup
    with gateway_server([model_dir], db, policy=policy) as (url, _):
        statuses = hammer([url], key, row)
    check(db, statuses)


def test_two_gateway_processes_share_one_redis(setup: tuple) -> None:
    model_dir, db, policy, key, row = setup
    with (
        redis_server() as redis_url,
        gateway_server([model_dir], db, policy=policy, redis_url=redis_url) as (url_a, _),
        gateway_server([model_dir], db, policy=policy, redis_url=redis_url) as (url_b, _),
    ):
        statuses = hammer([url_a, url_b], key, row)
    check(db, statuses)


def test_without_shared_storage_two_processes_would_each_allow_the_quota(setup: tuple) -> None:
    """The control: memory storage per process lets a key through twice; Redis is what fixes it."""
    model_dir, db, policy, key, row = setup
    with (
        gateway_server([model_dir], db, policy=policy) as (url_a, _),
        gateway_server([model_dir], db, policy=policy) as (url_b, _),
    ):
        statuses = hammer([url_a, url_b], key, row)
    assert statuses.count(200) > QUOTA
