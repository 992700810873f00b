"""Proof of work before each answer, harder for clients that have taken more (Dziedzic et al. 2022).

Dziedzic, Kaleem, Lu, Papernot. "Increasing the Cost of Model Extraction with Calibrated
Proof of Work", ICLR 2022. Every request must carry the solution of a HashCash puzzle:
a nonce such that SHA-256(seed ‖ nonce) starts with ``bits`` zero bits (2^bits hashes on
average). The difficulty is calibrated by what the client has already taken, so an honest
client pays little and a thief pays more with every batch.

A puzzle asks for ``parts`` nonces (16 to 32 once the work passes 16 hashes) of
``part_bits`` zero bits each, one per seed ``seed.0``, ``seed.1``, ...: any expected work
``parts · 2^part_bits`` can be priced within a few percent, and what a client spends stays
within about a quarter of its mean, so the price paid is close to the price asked.

Flow: a request without a solution is refused with ``428 proof_of_work_required`` and a
challenge bound to the client, to the batch's rows (a digest) and to an expiry, signed with
the gateway's secret, so the gateway keeps no state but the solutions already used. The
client solves it and sends the same rows again with ``X-Proof-Of-Work: <challenge id>:<nonce>``.
A wrong, stale or replayed solution is refused with a fresh challenge. Nothing is charged
for a refused request.

**Departures from the paper**: the paper prices each query by its privacy cost under PATE,
which needs the owner's training data at query time; we estimate leakage from what the
gateway already knows — the rows the client has sent (one more bit, twice the work, each
time they double past ``free_rows``) and whether a detector has flagged it (``alarm_bits``)
— and price a batch of n rows as n puzzles (``log2 n`` more bits). PATE's privacy cost is
high where the teachers disagree; our stand-in is the served model's own doubt: with
``uncertain_bits: u``, a row whose top probability is below ``confident`` weighs 2^u rows.
Boundary-seeking attacks (equation solving's balanced points, line searches) pay that on
almost every row; honest users on a few.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import math
import secrets
import time
from dataclasses import dataclass, field, fields
from typing import Any

from modelsteal.errors import InvalidInput

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


def _hash(seed: str, nonce: int) -> bytes:
    return hashlib.sha256(seed.encode() + nonce.to_bytes(8, "little")).digest()


#: a puzzle is cut into PARTS to 2·PARTS sub-puzzles: any expected work can be asked for
#: within a few percent (not only powers of two), and the time a client spends varies far
#: less (a sum of geometric draws has a spread of 1/sqrt(parts) of its mean)
PARTS = 16


def puzzle_for(work: float) -> tuple[int, int]:
    """``(parts, part_bits)`` whose expected hashes ``parts · 2^part_bits`` come closest to ``work``."""
    work = max(float(work), 1.0)
    part_bits = max(0, math.floor(math.log2(work)) - int(math.log2(PARTS)))
    parts = max(1, round(work / 2**part_bits))
    return parts, part_bits


def part_seeds(seed: str, parts: int) -> list[str]:
    return [seed] if parts == 1 else [f"{seed}.{i}" for i in range(parts)]


def solve(challenge: dict[str, Any]) -> tuple[str, int]:
    """The header value that answers ``challenge``, and how many hashes it took."""
    parts, bits = int(challenge["parts"]), int(challenge["part_bits"])
    nonces, hashes = [], 0
    for seed in part_seeds(str(challenge["seed"]), parts):
        nonce = 0
        while leading_zero_bits(_hash(seed, nonce)) < bits:
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

    def solve(self, challenge: dict[str, Any]) -> str:
        started = time.process_time()
        header, hashes = solve(challenge)
        self.seconds += time.process_time() - started
        self.hashes += hashes
        self.puzzles += 1
        return header


#: a request refused this many times in a row despite solved puzzles is given up
MAX_ATTEMPTS = 3


class ProofRefused(Exception):
    """A solution the gateway does not accept; ``code`` says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ProofOfWork:
    """HashCash puzzles whose difficulty grows with the client's leakage (see the module doc)."""

    # defaults calibrated by bench/proof_of_work.py on digits softmax (honest ≤ 2×)
    base_bits: int = 5
    free_rows: int = 1000
    alarm_bits: int = 8
    max_bits: int = 26
    ttl: float = 60.0
    #: rows the model answers with a top probability below ``confident`` cost 2^uncertain_bits
    #: times a confident row's work (0: every row costs the same)
    uncertain_bits: int = 5
    confident: float = 0.7
    secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _spent: set[str] = field(default_factory=set, repr=False)
    _expiries: list[tuple[float, str]] = field(default_factory=list, repr=False)  # a heap

    def __post_init__(self) -> None:
        for name, value, lo, hi in (
            ("base_bits", self.base_bits, 0, 40),
            ("alarm_bits", self.alarm_bits, 0, 40),
            ("max_bits", self.max_bits, 1, 40),
            ("uncertain_bits", self.uncertain_bits, 0, 20),
        ):
            if not isinstance(value, int) or not lo <= value <= hi:
                raise InvalidInput(f"proof_of_work: {name} must be a whole number from {lo} to {hi}")
        if not isinstance(self.free_rows, int) or self.free_rows < 1:
            raise InvalidInput("proof_of_work: free_rows must be a whole number >= 1")
        if not isinstance(self.confident, int | float) or not 0.0 < self.confident <= 1.0:
            raise InvalidInput("proof_of_work: confident must be a number in (0, 1]")
        if not self.ttl > 0:
            raise InvalidInput("proof_of_work: ttl must be a positive number of seconds")

    @classmethod
    def from_dict(cls, data: Any) -> ProofOfWork:
        if not isinstance(data, dict):
            raise InvalidInput(
                "proof_of_work must be a mapping (base_bits, free_rows, alarm_bits, max_bits, ttl)"
            )
        known = {f.name for f in fields(cls) if not f.name.startswith("_")}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"proof_of_work has unknown fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The policy's fields, the secret left out."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.repr and not f.name.startswith("_")}

    def work_for(self, rows: int, *, taken: int, flagged: bool, uncertain: int = 0) -> float:
        """Expected hashes asked of a batch of ``rows`` (``uncertain`` of them answered below
        ``confident``) from a client that has ``taken`` rows so far."""
        weight = rows - uncertain + uncertain * 2**self.uncertain_bits
        bits = float(self.base_bits)
        if taken > self.free_rows:
            bits += int(math.log2(taken / self.free_rows))
        if flagged:
            bits += self.alarm_bits
        return float(min(max(weight, 1) * 2.0**bits, 2.0**self.max_bits))

    def bits_for(self, rows: int, *, taken: int, flagged: bool, uncertain: int = 0) -> int:
        """The same work in whole bits, rounded up (what a single HashCash puzzle would ask)."""
        return math.ceil(math.log2(self.work_for(rows, taken=taken, flagged=flagged, uncertain=uncertain)))

    def _sign(self, client: str, digest: str, parts: int, part_bits: int, expires: int) -> str:
        text = f"{client}|{digest}|{parts}|{part_bits}|{expires}".encode()
        return hmac.new(self.secret.encode(), text, hashlib.sha256).hexdigest()

    def challenge(self, client: str, digest: str, work: float, *, now: float | None = None) -> dict[str, Any]:
        """A puzzle of about ``work`` expected hashes for ``client`` to send the rows ``digest``."""
        expires = int((time.time() if now is None else now) + self.ttl)
        parts, part_bits = puzzle_for(work)
        seed = self._sign(client, digest, parts, part_bits, expires)
        return {
            "id": f"{expires}.{parts}.{part_bits}.{seed}",
            "seed": seed,
            "bits": round(math.log2(parts) + part_bits, 2),
            "parts": parts,
            "part_bits": part_bits,
            "expires": expires,
        }

    def verify(
        self, client: str, digest: str, proof: str, *, min_work: float, now: float | None = None
    ) -> None:
        """Accept a solution once, or raise :class:`ProofRefused` (invalid, expired, replayed)."""
        now = time.time() if now is None else now
        try:
            challenge_id, nonce_text = proof.rsplit(":", 1)
            expires_text, parts_text, bits_text, seed = challenge_id.split(".", 3)
            expires, parts, part_bits = int(expires_text), int(parts_text), int(bits_text)
            nonces = [int(n) for n in nonce_text.split(",")]
        except ValueError:
            raise ProofRefused(
                "proof_of_work_invalid", f"{HEADER} must be <challenge id>:<nonce>[,<nonce>...]"
            ) from None
        if not hmac.compare_digest(seed, self._sign(client, digest, parts, part_bits, expires)):
            raise ProofRefused(
                "proof_of_work_invalid", "the challenge was not issued to this key for these rows"
            )
        asked_parts, asked_bits = puzzle_for(min_work)
        if parts * 2**part_bits < asked_parts * 2**asked_bits:
            raise ProofRefused(
                "proof_of_work_invalid",
                f"this request needs {asked_parts * 2**asked_bits} hashes of work, not {parts * 2**part_bits}",
            )
        if now > expires:
            raise ProofRefused("proof_of_work_expired", "the challenge expired; solve the new one")
        if len(nonces) != parts:
            raise ProofRefused(
                "proof_of_work_invalid", f"this challenge takes {parts} nonces, not {len(nonces)}"
            )
        for part_seed, nonce in zip(part_seeds(seed, parts), nonces, strict=True):
            if not 0 <= nonce < 2**64 or leading_zero_bits(_hash(part_seed, nonce)) < part_bits:
                raise ProofRefused("proof_of_work_invalid", "a nonce does not solve the challenge")
        while self._expiries and self._expiries[0][0] < now:  # forget solutions past their expiry
            self._spent.discard(heapq.heappop(self._expiries)[1])
        if seed in self._spent:
            raise ProofRefused(
                "proof_of_work_replayed", "this solution was used already; solve the new challenge"
            )
        self._spent.add(seed)
        heapq.heappush(self._expiries, (float(expires), seed))
