from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from modelsteal.errors import BudgetExhausted, InvalidInput, RateLimited
from modelsteal.oracle import (
    Answers,
    LocalTransport,
    ModelInfo,
    Oracle,
    OutputMode,
    apply_output_mode,
)


def test_budget_is_enforced_before_sending(victim_factory: Callable) -> None:
    victim, data = victim_factory("iris", "ovr")
    oracle = Oracle(LocalTransport(victim), budget=10)
    oracle.query(data.X_test[:6])
    assert oracle.queries == 6 and oracle.remaining == 4
    with pytest.raises(BudgetExhausted) as info:
        oracle.query(data.X_test[:5])
    assert (info.value.used, info.value.asked, info.value.budget) == (6, 5, 10)
    assert oracle.queries == 6  # nothing was sent
    oracle.query(data.X_test[:4])
    assert oracle.remaining == 0


def test_a_limited_view_counts_in_its_parent_and_obeys_both(victim_factory: Callable) -> None:
    victim, data = victim_factory("iris", "ovr")
    parent = Oracle(LocalTransport(victim, price_per_query=0.002), budget=20)
    child = parent.limited(15)
    child.query(data.X_test[:12])
    assert (child.queries, parent.queries) == (12, 12)
    assert child.cost == pytest.approx(0.024) and parent.cost == pytest.approx(0.024)
    parent.query(data.X_test[:6])
    assert child.remaining == 2  # the parent has 2 left, the child 3
    with pytest.raises(BudgetExhausted):
        child.query(data.X_test[:3])


def test_big_batches_are_split_and_counted_per_row(victim_factory: Callable) -> None:
    victim, data = victim_factory("digits", "softmax")
    oracle = Oracle(LocalTransport(victim), max_batch=100)
    answers = oracle.query(data.X_test[:250])
    assert len(answers) == 250 and oracle.requests == 3 and oracle.queries == 250
    assert np.array_equal(answers.probabilities, victim.predict_proba(data.X_test[:250]))


@pytest.mark.parametrize("rows", [np.zeros((0, 4)), np.full((1, 4), np.inf), np.zeros((1, 3))])
def test_bad_queries_are_refused_and_not_counted(victim_factory: Callable, rows: np.ndarray) -> None:
    victim, _ = victim_factory("iris", "ovr")
    oracle = Oracle(LocalTransport(victim))
    with pytest.raises(InvalidInput):
        oracle.query(rows)
    assert oracle.queries == 0


def test_output_modes() -> None:
    P = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    full = apply_output_mode(P, OutputMode())
    assert np.array_equal(full.probabilities, P) and full.labels.tolist() == [1, 0]
    top2 = apply_output_mode(P, OutputMode("top_k", k=2))
    assert top2.probabilities is None
    assert top2.top_k_classes.tolist() == [[1, 2], [0, 2]]
    assert np.allclose(top2.top_k_probabilities, [[0.6, 0.3], [0.5, 0.3]])
    label = apply_output_mode(P, OutputMode("label"))
    assert label.probabilities is None and label.top_k_classes is None and label.labels.tolist() == [1, 0]
    rounded = apply_output_mode(np.array([[0.123456, 0.876544]]), OutputMode(decimals=2))
    assert rounded.probabilities.tolist() == [[0.12, 0.88]]
    with pytest.raises(InvalidInput):
        OutputMode("logits")


class FlakyTransport:
    """Answers 429 twice, then succeeds."""

    def __init__(self, inner: LocalTransport) -> None:
        self.inner = inner
        self.refusals = 2

    def describe(self) -> ModelInfo:
        return self.inner.describe()

    def send(self, X: np.ndarray) -> tuple[Answers, float]:
        if self.refusals:
            self.refusals -= 1
            raise RateLimited("slow down", retry_after=1.5)
        return self.inner.send(X)

    def close(self) -> None:
        return None


def test_rate_limits_are_waited_out_only_when_asked(victim_factory: Callable) -> None:
    victim, data = victim_factory("iris", "ovr")
    with pytest.raises(RateLimited):
        Oracle(FlakyTransport(LocalTransport(victim))).query(data.X_test[:2])
    slept: list[float] = []
    oracle = Oracle(FlakyTransport(LocalTransport(victim)), wait_on_rate_limit=True, sleep=slept.append)
    oracle.query(data.X_test[:2])
    assert slept == [1.5, 1.5] and oracle.waited == 3.0 and oracle.queries == 2
