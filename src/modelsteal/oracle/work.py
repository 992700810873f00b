"""Proof of work, the client's side: the puzzle format, its solver, and one flow that pays.

A gateway with proof of work (``defenses/proof_of_work.py`` prices and checks it) answers
``428`` with a HashCash challenge, and every answer carries a challenge to pay ahead
with. :func:`with_work` is the one flow around any transport (httpx's ``Auth.auth_flow``
is the model): send with the solution paid ahead, and on a 428 solve the puzzle and send
the same rows again, at most ``MAX_ATTEMPTS`` times. A :class:`WorkMeter` keeps what the
client spent.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from modelsteal.errors import WorkRequired

T = TypeVar("T")

#: the header that carries a solution
HEADER = "X-Proof-Of-Work"


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits ``digest`` starts with."""
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def puzzle_hash(seed: str, nonce: int) -> bytes:
    """SHA-256 of a seed and a nonce: what must start with the puzzle's zero bits."""
    return hashlib.sha256(seed.encode() + nonce.to_bytes(8, "little")).digest()


#: a puzzle is cut into PARTS to 2·PARTS sub-puzzles: any expected work can be asked for
#: within a few percent (not only powers of two), and the time a client spends varies far
#: less (a sum of geometric draws has a spread of 1/sqrt(parts) of its mean)
PARTS = 16


def puzzle_for(work: float) -> tuple[int, int]:
    """``(parts, part_bits)`` whose expected hashes ``parts · 2^part_bits`` are the fewest at least
    ``work`` (at most a sixteenth over)."""
    work = max(float(work), 1.0)
    part_bits = max(0, math.floor(math.log2(work)) - int(math.log2(PARTS)))
    parts = max(1, math.ceil(work / 2**part_bits - 1e-9))
    return parts, part_bits


def part_seeds(seed: str, parts: int) -> list[str]:
    return [seed] if parts == 1 else [f"{seed}.{i}" for i in range(parts)]


def solve(challenge: dict[str, Any]) -> tuple[str, int]:
    """The header value that answers ``challenge``, and how many hashes it took."""
    parts, bits = int(challenge["parts"]), int(challenge["part_bits"])
    nonces, hashes = [], 0
    for seed in part_seeds(str(challenge["seed"]), parts):
        nonce = 0
        while leading_zero_bits(puzzle_hash(seed, nonce)) < bits:
            nonce += 1
        nonces.append(str(nonce))
        hashes += nonce + 1
    return f"{challenge['id']}:{','.join(nonces)}", hashes


@dataclass
class WorkMeter:
    """What a client spent on proofs of work: CPU seconds, hashes, puzzles solved."""

    seconds: float = 0.0
    hashes: int = 0
    puzzles: int = 0
    #: expected hashes of the puzzles solved: what the gateway credited
    asked: float = 0.0
    #: the challenge the last answer carried, to pay ahead with the next request
    ahead: dict[str, Any] | None = None

    def solve(self, challenge: dict[str, Any]) -> str:
        started = time.process_time()
        header, hashes = solve(challenge)
        self.seconds += time.process_time() - started
        self.hashes += hashes
        self.puzzles += 1
        self.asked += float(
            challenge.get("hashes", int(challenge["parts"]) * 2 ** int(challenge["part_bits"]))
        )
        return header

    def pay_ahead(self) -> str | None:
        """The solution of the challenge the last answer carried (None when there is none, or it
        expired: the gateway then asks again with a 428)."""
        challenge, self.ahead = self.ahead, None
        if challenge is None or float(challenge.get("expires", 0)) <= time.time():
            return None
        return self.solve(challenge)


#: a request refused this many times in a row despite solved puzzles is given up
MAX_ATTEMPTS = 3


def with_work(meter: WorkMeter, send: Callable[[str | None], T]) -> T:
    """``send(proof)`` with the solution paid ahead (None when there is none); on a 428, the
    challenge solved and the request sent again, at most ``MAX_ATTEMPTS`` times."""
    proof = meter.pay_ahead()
    for attempt in range(MAX_ATTEMPTS + 1):
        try:
            return send(proof)
        except WorkRequired as work:
            if attempt == MAX_ATTEMPTS:
                raise
            proof = meter.solve(work.challenge)
    raise AssertionError("unreachable")  # pragma: no cover
