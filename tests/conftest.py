"""Shared fixtures: victims are trained once per session (they are deterministic)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch

from modelsteal.datasets import Dataset, load_csv, load_dataset
from modelsteal.datasets.examples import write_loans_csv
from modelsteal.datasets.thief import ThiefPool, split_for_theft
from modelsteal.victims import TrainOptions, Victim, train_victim

torch.set_num_threads(1)

_victims: dict[tuple[str, str, str], tuple[Victim, Dataset]] = {}


@pytest.fixture(scope="session")
def loans_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_loans_csv(tmp_path_factory.mktemp("csv") / "loans.csv")


@pytest.fixture(scope="session")
def victim_factory(loans_csv: Path) -> Callable[..., tuple[Victim, Dataset]]:
    """``make(dataset, family, activation='relu', extraction=None)`` -> (victim, dataset), cached."""

    def make(
        dataset: str, family: str, activation: str = "relu", extraction: str | None = None
    ) -> tuple[Victim, Dataset]:
        key = (dataset, family, activation + (f"/{extraction}" if extraction else ""))
        if key not in _victims:
            data = load_csv(loans_csv, "risk") if dataset == "loans" else load_dataset(dataset)
            options = TrainOptions(activation=activation, feature_extraction=extraction)
            victim = train_victim(data, family, seed=0, options=options)
            _victims[key] = (victim, data)
        return _victims[key]

    return make


_thefts: dict[str, tuple[Victim, Dataset, ThiefPool]] = {}


@pytest.fixture(scope="session")
def theft_factory() -> Callable[..., tuple[Victim, Dataset, ThiefPool]]:
    """``make(dataset)`` -> (CNN victim trained on half the training split, dataset, the other half)."""

    def make(dataset: str) -> tuple[Victim, Dataset, ThiefPool]:
        if dataset not in _thefts:
            data = load_dataset(dataset)
            owner, pool = split_for_theft(data, random_state=0)
            victim = train_victim(owner, "cnn", seed=0, options=TrainOptions(epochs=20))
            _thefts[dataset] = (victim, data, pool)
        return _thefts[dataset]

    return make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say which browser tests did not run and how to enable them: a skip is not a pass."""
    from tests.browser import ENABLE, NOT_RUN

    if NOT_RUN:
        terminalreporter.write_sep("!", "browser tests did NOT run", yellow=True)
        for line in NOT_RUN:
            terminalreporter.write_line(f"  {line}")
        terminalreporter.write_line(f"  to enable them: {ENABLE}")


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (README's blocks, then the other e2e tests): on two workers a
    long test that starts last keeps one core busy alone at the end of the run."""
    items.sort(key=lambda item: (item.get_closest_marker("e2e") is None, "test_readme" not in item.nodeid))
