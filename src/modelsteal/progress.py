"""Progress a person can read: a rich bar on a terminal, one line per stage when piped.

On a terminal each stage shows a bar with its count, rate and time left; written to a file
or a pipe (CI logs, ``| tee``), each stage prints one line when it ends, with its count and
how long it took, so a long run is never silent and a log is never flooded.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any


class Stage:
    """One stage of work: ``advance(n)`` as units are done, ``note(text)`` for its description."""

    def __init__(self, reporter: Reporter, name: str, total: int | None, unit: str) -> None:
        self.reporter = reporter
        self.name = name
        self.total = total
        self.unit = unit
        self.done = 0
        self.started = time.perf_counter()
        self._task: Any = None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._task is not None:
            self.reporter._bar.update(self._task, advance=n)

    def step(self, text: str) -> None:
        """One step done, described by ``text``: the bar moves on a terminal; piped, one line."""
        self.advance(1)
        self.note(text)
        if self._task is None and not self.reporter.quiet:
            seconds = time.perf_counter() - self.started
            of = f"/{self.total}" if self.total is not None else ""
            print(f"[{seconds:7.1f} s] {self.done}{of} {text}", file=self.reporter.stream, flush=True)

    def note(self, text: str) -> None:
        """What the stage is doing now: the bar's description (the summary keeps the stage's name)."""
        if self._task is not None:
            self.reporter._bar.update(self._task, description=text)

    def summary(self) -> str:
        seconds = time.perf_counter() - self.started
        count = f"{self.done:,}" + (f"/{self.total:,}" if self.total is not None else "")
        per_second = self.done / seconds if seconds > 0 else 0.0
        shown = f"{per_second:,.0f}" if per_second >= 10 else f"{per_second:.2g}"  # never "0 models/s"
        rate = f", {shown} {self.unit}/s" if seconds > 0 and self.done else ""
        return f"{self.name}: {count} {self.unit} in {seconds:.1f} s{rate}"


def _rate_column(unit: str) -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {unit}/s")

    return Rate()


class Reporter:
    """Makes stages; ``live`` (a terminal) decides between a bar and lines."""

    def __init__(
        self, stream: IO[str] | None = None, *, live: bool | None = None, quiet: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = (self.stream.isatty() if live is None else live) and not quiet
        self.quiet = quiet
        self._bar: Any = None

    @contextmanager
    def stage(self, name: str, *, total: int | None = None, unit: str = "queries") -> Iterator[Stage]:
        stage = Stage(self, name, total, unit)
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
            if total is not None:
                columns += [BarColumn(), MofNCompleteColumn(), TaskProgressColumn()]
            columns += [_rate_column(unit), TimeElapsedColumn()]
            if total is not None:
                columns.append(TimeRemainingColumn())
            with Progress(*columns, console=Console(file=self.stream), transient=True) as bar:
                self._bar = bar
                stage._task = bar.add_task(name, total=total)
                try:
                    yield stage
                finally:
                    self._bar = None
                    stage._task = None
            print(stage.summary(), file=self.stream, flush=True)
            return
        yield stage  # on an error the caller's message is the last line, not a summary
        if not self.quiet:
            print(stage.summary(), file=self.stream, flush=True)
