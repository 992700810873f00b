"""Attackers who know the defence: undo what a published transform did to the answers.

The security literature's rule is that the defence is public and only its key is secret.
A thief who knows a tier answers through reverse sigmoid with (β, γ) can often undo it:
:class:`InvertingTransport` wraps any transport and hands the attack its best estimate of
the model's own probabilities, so every probability-based attack runs unchanged on top.

:func:`invert_reverse_sigmoid` undoes Lee et al.'s reverse sigmoid (IEEE S&P Workshops 2019).
The shown answer is ``q_i = g(p_i) / Σ_j g(p_j)`` with ``g(p) = p − β(s(γ s⁻¹(p)) − ½)``.
``g`` falls from ``β/2`` at ``p = 0`` to a minimum at ``p*`` and rises after it, which is the
defence's deception: two probabilities share every value below ``β/2``. We read the top
class on the rising branch and the others on the falling one (right whenever only the top
class lies above ``p*``, which holds for confident answers), and find the top class's
probability ``p_t`` from ``Σ p_i = 1``: ``p_i = g⁻¹(g(p_t) q_i / q_t)``. Where ``g`` is flat
to float precision (``p`` below about ``(2⁻⁵³/β)^{1/γ}``) the probability is lost, and so
are equations that need it. Not handled: rows where the defence clipped a class to 0 or
swapped the top class back (our top-1-keeping departure); their estimate is approximate.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from modelsteal.errors import InvalidInput
from modelsteal.oracle.answers import Answers
from modelsteal.oracle.info import ModelInfo

FloatArray = NDArray[np.float64]
_TINY = 1e-300


def reverse_sigmoid_gain(p: FloatArray, beta: float, gamma: float) -> FloatArray:
    """``g(p) = p − β(s(γ s⁻¹(p)) − ½)``, the unnormalised answer reverse sigmoid gives."""
    p = np.clip(p, _TINY, 1.0 - 1e-16)
    logit = np.log(p) - np.log1p(-p)
    return np.asarray(p - beta * (1.0 / (1.0 + np.exp(-gamma * logit)) - 0.5))


def _turning_point(beta: float, gamma: float) -> float:
    """``p*``, where ``g`` stops falling and starts rising."""
    grid = np.exp(np.linspace(np.log(_TINY), 0.0, 20_001))[:-1]
    return float(grid[int(np.argmin(reverse_sigmoid_gain(grid, beta, gamma)))])


def _inverse(values: FloatArray, beta: float, gamma: float, lo: float, hi: float, rising: bool) -> FloatArray:
    """``g⁻¹`` on the branch ``[lo, hi]`` of ``p`` by bisection in log p, elementwise."""
    a = np.full(values.shape, np.log(lo))
    b = np.full(values.shape, np.log(hi))
    for _ in range(80):
        mid = 0.5 * (a + b)
        above = reverse_sigmoid_gain(np.exp(mid), beta, gamma) > values
        go_left = above if rising else ~above
        b = np.where(go_left, mid, b)
        a = np.where(go_left, a, mid)
    return np.asarray(np.exp(0.5 * (a + b)))


def invert_reverse_sigmoid(Q: FloatArray, beta: float, gamma: float) -> FloatArray:
    """The probabilities reverse sigmoid (β, γ) most likely turned into the answers ``Q``."""
    Q = np.asarray(Q, dtype=np.float64)
    n, k = Q.shape
    star = _turning_point(beta, gamma)
    top = np.argmax(Q, axis=1)
    q_top = Q[np.arange(n), top]
    ratio = Q / np.maximum(q_top[:, None], _TINY)
    floor = max(star, 1.0 / k)
    rows = np.arange(n)

    def implied(pt: FloatArray) -> FloatArray:
        """Every class's probability when the top class's is ``pt`` (one column per candidate)."""
        target = reverse_sigmoid_gain(pt, beta, gamma)[..., None] * ratio[:, None, :]
        target = np.minimum(target, beta / 2.0)  # above g(0) only the rising branch has a preimage
        p = _inverse(target, beta, gamma, _TINY, star, rising=False)
        p[rows, :, top] = pt
        return p

    # Σ p = 1 can hold at several top probabilities (the deception); read the largest, the
    # most confident answer consistent with what was shown: scan a grid, then bisect
    grid = 1.0 / (1.0 + np.exp(-np.linspace(np.log(floor / (1 - floor)), 34.0, 160)))
    sums = implied(np.broadcast_to(grid, (n, grid.size)).copy()).sum(axis=2) - 1.0
    crossing = (sums[:, 1:] >= 0) & (sums[:, :-1] < 0)
    has = crossing.any(axis=1)
    last = np.where(
        has, grid.size - 2 - np.argmax(crossing[:, ::-1], axis=1), np.argmin(np.abs(sums), axis=1)
    )
    lo = grid[np.minimum(last, grid.size - 1)]
    hi = np.where(has, grid[np.minimum(last + 1, grid.size - 1)], lo)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        too_much = implied(mid[:, None])[:, 0, :].sum(axis=1) > 1.0
        hi = np.where(too_much, mid, hi)
        lo = np.where(too_much, lo, mid)
    P = implied((0.5 * (lo + hi))[:, None])[:, 0, :]
    return np.asarray(P / P.sum(axis=1, keepdims=True))


class InvertingTransport:
    """A transport whose probability answers are replaced by the estimate of the model's own.

    ``defence`` is a spec the thief read from the API's documentation, e.g.
    ``{"reverse_sigmoid": {"beta": 0.7, "gamma": 0.2}}``.
    """

    def __init__(self, transport: object, defence: dict[str, dict[str, float]]) -> None:
        if list(defence) != ["reverse_sigmoid"]:
            raise InvalidInput(f"a defence-aware transport can invert reverse_sigmoid, not {list(defence)}")
        params = defence["reverse_sigmoid"]
        self.beta, self.gamma = float(params["beta"]), float(params["gamma"])
        self.transport = transport

    def describe(self) -> ModelInfo:
        return self.transport.describe()  # type: ignore[attr-defined]

    def send(self, X: FloatArray) -> tuple[Answers, float]:
        answers, cost = self.transport.send(X)  # type: ignore[attr-defined]
        if answers.probabilities is None:
            return answers, cost
        P = invert_reverse_sigmoid(answers.probabilities, self.beta, self.gamma)
        return Answers(labels=answers.labels, probabilities=P), cost

    def close(self) -> None:
        self.transport.close()  # type: ignore[attr-defined]
