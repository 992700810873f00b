"""Seeds: every random piece of modelsteal takes ``random_state``."""

from __future__ import annotations

import numpy as np

RandomState = int | np.random.Generator | None


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """A ``numpy.random.Generator`` from a seed, a generator, or ``None`` (fresh entropy)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, int | np.integer):
        return np.random.default_rng(random_state)
    raise TypeError(f"random_state must be an int, a numpy Generator or None, not {random_state!r}")


def derive_seed(rng: np.random.Generator) -> int:
    """A fresh integer seed drawn from ``rng`` (for libraries that want ints)."""
    return int(rng.integers(0, 2**31 - 1))
