"""Run a campaign: plan, prepare the victims, run the cells not yet done, store each result.

Cells run on an executor: a local process pool (the default) or Ray tasks (the optional
``ray`` extra), on this machine or on a cluster. Only the driver writes the store, one
transaction per finished cell, so killing the run loses at most the cells in flight.
Every cell is seeded and keyed by its own id, so executors and worker counts do not
change results.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import yaml

from modelsteal.campaigns.cells import run_cell
from modelsteal.campaigns.spec import Campaign, Cell
from modelsteal.campaigns.store import CampaignStore
from modelsteal.campaigns.victims import prepare_victims
from modelsteal.errors import InvalidInput
from modelsteal.progress import Reporter

EXECUTORS = ("local", "ray")
#: modules a local worker needs, imported once by the fork server the workers start from
PRELOAD = (
    "torch",
    "modelsteal.campaigns.cells",
    "modelsteal.campaigns.experiment",
    "modelsteal.attacks.registry",
    "modelsteal.gateway.service",
    "modelsteal.gateway.transport",
)
#: seconds to wait for a Ray cluster's address to answer before giving up
RAY_CONNECT_TIMEOUT = 10.0

Payload = dict[str, Any]
OnResult = Callable[[Payload, dict[str, Any]], None]


class Executor(Protocol):
    name: str
    workers: int
    startup_seconds: float

    def start(self) -> None: ...

    def run(self, payloads: Sequence[Payload], on_result: OnResult) -> None: ...

    def close(self) -> None: ...


def _init_worker() -> None:
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _warm() -> int:
    """A no-op task: returns when a worker has started and imported what cells need."""
    return os.getpid()


class LocalExecutor:
    """Cells in this process (one worker) or in a pool of ``workers`` processes.

    ``start()`` spins the pool up in the background (the driver calls it before training
    the victims, so the two overlap); ``startup_seconds`` is how long the workers took to be
    ready.
    """

    name = "local"

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise InvalidInput("`workers` must be at least 1")
        self.workers = workers
        self.startup_seconds = 0.0
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future[int]] = []
        self._started = 0.0

    def start(self) -> None:
        if self.workers == 1 or self._pool is not None:
            return
        # forkserver: workers fork from a clean server process that imported torch and the
        # cells' code once (no torch state forked from the driver, no import per worker)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOAD))
        self._started = time.perf_counter()
        self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker)
        self._warming = [self._pool.submit(_warm) for _ in range(self.workers)]

    def run(self, payloads: Sequence[Payload], on_result: OnResult) -> None:
        if not payloads:  # nothing to run: no pool to start
            return
        if self.workers == 1:
            _init_worker()
            for payload in payloads:
                on_result(payload, run_cell(payload))
            return
        self.start()
        pool = self._pool
        if pool is None:  # pragma: no cover - start() made it
            raise RuntimeError("the worker pool did not start")
        try:
            if self._warming:
                wait(self._warming)
                self.startup_seconds = time.perf_counter() - self._started
                self._warming = []
            queue = list(payloads)
            running: dict[Future[dict[str, Any]], Payload] = {}
            # keep the pool fed, but submit no more than it can start: a killed run then has
            # few cells in flight to lose
            while queue or running:
                while queue and len(running) < 2 * self.workers:
                    payload = queue.pop(0)
                    running[pool.submit(run_cell, payload)] = payload
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    on_result(running.pop(future), future.result())
        finally:
            self.close()  # one pool per run: the next run starts its own

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Cells as Ray tasks: a local Ray instance of ``workers`` CPUs, or the cluster at ``address``.

    Every node needs modelsteal installed (``pip install modelsteal[ray]``) and the victims'
    folders at the same paths (a shared file system), as the cells read them.
    """

    name = "ray"

    def __init__(self, workers: int = 2, address: str | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise InvalidInput(
                "--executor ray needs Ray: pip install 'modelsteal[ray]' (or pip install ray)"
            ) from None
        if address is not None and address != "auto":
            check_ray_address(address)
        self.workers = workers
        self.address = address
        started = time.perf_counter()
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        self.startup_seconds = time.perf_counter() - started
        self._task = ray.remote(num_cpus=1, max_retries=0)(run_cell)

    def start(self) -> None:
        return None  # ray.init above started the instance

    def run(self, payloads: Sequence[Payload], on_result: OnResult) -> None:
        import ray

        running = {self._task.remote(p): p for p in payloads}
        while running:
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                on_result(running.pop(ref), ray.get(ref))

    def close(self) -> None:
        import ray

        ray.shutdown()


def check_ray_address(address: str, timeout: float = RAY_CONNECT_TIMEOUT) -> None:
    """Fail fast, with the fix, when nothing answers at a Ray cluster's address."""
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        raise InvalidInput(f"`address` {address!r} is not HOST:PORT (or ray://HOST:PORT)")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except OSError as exc:
        raise InvalidInput(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with `ray start --head` "
            "and pass its address, or drop `address` to run a local Ray instance"
        ) from None


def make_executor(name: str, *, workers: int, address: str | None = None) -> Executor:
    if name == "local":
        if address is not None:
            raise InvalidInput("`address` goes with `executor` ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, address)
    raise InvalidInput(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


@dataclass
class RunSummary:
    """What a run did: cells planned, run now, found done, skipped, failed; seconds and executor."""

    planned: int
    ran: int
    reused: int
    skipped: int
    failed: int
    seconds: float
    executor: str
    workers: int
    startup_seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    @property
    def cells_per_minute(self) -> float:
        return 60.0 * self.ran / self.seconds if self.seconds > 0 else 0.0


def coordinates(cell: Cell) -> dict[str, Any]:
    return {
        "kind": cell.kind,
        "victim": cell.victim.name,
        "policy": cell.policy_name,
        "attack": cell.attack_name,
        "budget": cell.budget,
        "seed": cell.seed,
    }


def run_campaign(
    campaign: Campaign,
    out: str | Path,
    *,
    executor: Executor | None = None,
    resume: bool = False,
    retry_failed: bool = False,
    reporter: Reporter | None = None,
) -> RunSummary:
    """Run ``campaign``'s cells that ``out``'s store does not hold yet."""
    reporter = reporter or Reporter()
    executor = executor or LocalExecutor(1)
    cells, skipped = campaign.plan()  # a file error fails before anything is written
    store = CampaignStore(out)
    try:
        store.claim(
            campaign.id,
            campaign.name,
            str(campaign.path or ""),
            resume=resume,
            extra={
                "description": campaign.description,
                "transport": campaign.transport,
                "comparisons": json.dumps(
                    [
                        {"name": c.name, "victims": list(c.victims), "claim": c.claim}
                        for c in campaign.comparisons
                    ]
                ),
            },
        )
        done = store.done_ids(retry_failed=retry_failed)
        for s in skipped:
            if s.cell.id not in done:
                store.write(s.cell.id, coordinates(s.cell), s.cell.content(), "skipped", error=s.reason)
        pending = [c for c in cells if c.id not in done]
        if pending:
            executor.start()  # workers come up while the victims train
        steps = len(campaign.victims) * (2 if campaign.ownership else 1)
        with reporter.stage("preparing victims", total=steps, unit="steps") as stage:
            victims = prepare_victims(
                campaign, store, on_victim=lambda name, what: stage.step(f"{name}: {what}")
            )
        # the cells' time (with the gateways' start): training is the victims' cost
        started = time.perf_counter()
        failures: list[str] = []
        with ExitStack() as stack:
            gateways: dict[str, dict[str, str]] = {}
            if campaign.transport == "http" and pending:
                gateways = stack.enter_context(serve_policies(campaign, pending, victims, Path(out)))
            slots = {cell.id: i for i, cell in enumerate(campaign.grid())}
            width = campaign.honest["clients"] if campaign.honest else 1
            payloads = [
                {
                    "id": cell.id,
                    "slot": slots[cell.id],
                    "slot_width": width,
                    "content": cell.content(),
                    "victim_dir": victims[cell.victim.name].get("dir"),
                    "model": victims[cell.victim.name].get("model", cell.victim.name),
                    "zoo": victims[cell.victim.name].get("zoo"),
                    "gateway": gateways.get(cell.policy_name) if cell.victim.source != "url" else None,
                }
                for cell in pending
            ]
            by_id = {cell.id: cell for cell in pending}
            with reporter.stage(
                f"running {len(pending)} cells on {executor.name} ({executor.workers} workers)",
                total=len(pending),
                unit="cells",
            ) as stage:

                def on_result(payload: Payload, outcome: dict[str, Any]) -> None:
                    cell = by_id[payload["id"]]
                    store.write(
                        cell.id,
                        coordinates(cell),
                        cell.content(),
                        outcome["status"],
                        outcome.get("result"),
                        outcome.get("error"),
                    )
                    if outcome["status"] == "failed":
                        failures.append(f"{cell.label()}: {outcome.get('error')}")
                    stage.step(f"{cell.label()}: {outcome['status']}")

                executor.run(payloads, on_result)
        return RunSummary(
            planned=len(cells) + len(skipped),
            ran=len(pending),
            reused=len(cells) - len(pending),
            skipped=len(skipped),
            failed=len(failures),
            seconds=time.perf_counter() - started,
            executor=executor.name,
            workers=executor.workers,
            startup_seconds=executor.startup_seconds,
            failures=failures,
        )
    finally:
        store.close()


@contextmanager
def serve_policies(
    campaign: Campaign, pending: Sequence[Cell], victims: dict[str, dict[str, Any]], out: Path
) -> Iterator[dict[str, dict[str, str]]]:
    """One gateway process per policy with cells to run, on loopback, serving that policy's victims.

    Each run starts its gateways with fresh state (a new SQLite file), as a killed run's
    gateways held keys and counts of cells that will run again.
    """
    from modelsteal.gateway.process import gateway_process

    folder = out / "gateways"
    folder.mkdir(parents=True, exist_ok=True)
    served: dict[str, dict[str, str]] = {}
    with ExitStack() as stack:
        for policy in campaign.policies:
            names = sorted(
                {c.victim.name for c in pending if c.policy_name == policy.name and c.victim.source != "url"}
            )
            if not names:
                continue
            policy_file = folder / f"{policy.name}.yaml"
            policy_file.write_text(yaml.safe_dump(policy.policy, sort_keys=True))
            db = folder / f"{policy.name}.db"
            for stale in (db, db.with_suffix(".db-wal"), db.with_suffix(".db-shm")):
                stale.unlink(missing_ok=True)
            dirs = [Path(victims[n]["dir"]) for n in names]
            url, _proc = stack.enter_context(
                gateway_process(dirs, db, policy=policy_file, die_with_parent=True)
            )
            served[policy.name] = {"url": url, "db": str(db)}
        yield served
