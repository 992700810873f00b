"""Start a gateway in a child process on a free loopback port, and stop it by its PID.

Used by ``make demo``, the benchmarks and the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    check: Callable[[], bool], what: str, proc: subprocess.Popen[bytes], timeout: float = 60.0
) -> None:
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


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@contextlib.contextmanager
def gateway_process(
    dirs: list[Path],
    db: Path,
    *,
    policy: Path | None = None,
    redis_url: str | None = None,
    admin_key: str | None = None,
    die_with_parent: bool = False,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``modelsteal serve`` on 127.0.0.1 and a free port; yields its base URL and process.

    ``die_with_parent``: on Linux the kernel stops the gateway when this process dies, even
    by SIGKILL (a campaign driver killed mid-run leaves no server behind).
    """
    port = free_port()
    cmd = [sys.executable, "-m", "modelsteal", "serve", *map(str, dirs), "--port", str(port), "--db", str(db)]
    if admin_key is not None:
        cmd += ["--admin-key", admin_key]
    if policy is not None:
        cmd += ["--policy", str(policy)]
    if redis_url is not None:
        cmd += ["--redis-url", redis_url]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        preexec_fn=_die_with_parent if die_with_parent else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(url + "/healthz", timeout=1).status_code == 200, "the gateway", proc)
        yield url, proc
    finally:
        stop(proc)
