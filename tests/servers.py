"""Start real servers for tests on free loopback ports; stop them by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(check: callable, what: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:  # type: ignore[valid-type]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode() if proc.stdout else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {out}")
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not start within {timeout} s")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def gateway_server(
    dirs: list[Path],
    db: Path,
    *,
    policy: Path | None = None,
    redis_url: str | None = None,
    admin_key: str = "admin-secret",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    cmd = [sys.executable, "-m", "modelsteal", "serve", *map(str, dirs), "--port", str(port), "--db", str(db)]
    cmd += ["--admin-key", admin_key]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    if redis_url is not None:
        cmd += ["--redis-url", redis_url]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, "the gateway", proc)
        yield url, proc
    finally:
        stop(proc)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: `apt-get install redis-server` (.ci/run does it)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        import redis

        _wait(lambda: redis.Redis(port=port).ping(), "redis-server", proc)
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(proc)
