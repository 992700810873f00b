"""Proof of work before each answer, harder for clients that have taken more (Dziedzic et al. 2022).

Dziedzic, Kaleem, Lu, Papernot. "Increasing the Cost of Model Extraction with Calibrated
Proof of Work", ICLR 2022. Every request must carry the solution of a HashCash puzzle:
a nonce such that SHA-256(seed ‖ nonce) starts with ``bits`` zero bits (2^bits hashes on
average). The difficulty is calibrated by what the client has already taken, so an honest
client pays little and a thief pays more with every batch.

A puzzle asks for ``parts`` nonces (16 to 32 once the work passes 16 hashes) of
``part_bits`` zero bits each, one per seed ``seed.0``, ``seed.1``, ...: any expected work
``parts · 2^part_bits`` can be priced (never under, at most a sixteenth over), and what a client spends stays
within about a quarter of its mean, so the price paid is close to the price asked.

Flow: work is paid ahead, into a credit the gateway keeps per key. Every answer carries
a challenge (``proof_of_work.challenge`` in the body) sized to top the key's credit up to
about three of its usual batches; the client solves it and sends the solution with its next
request (``X-Proof-Of-Work: <challenge id>:<nonce>,...``). The gateway adds the solution's
hashes to the credit, prices the batch, and answers if the credit covers the price. A
request the credit does not cover — a key's first, a batch far larger than its usual, a
solution wrong, stale or replayed — is refused with ``428`` and a challenge for the
shortfall. Challenges are signed for the key and an expiry with the gateway's secret, so
the gateway keeps only the credits and the solutions already used. Nothing is charged for
a refused request (its price goes back to the credit when a later stage refuses it). An
honest client pays what its batches are priced at, plus the unspent credit it holds at the
end, and waits for a round trip only at its first request and on an unusually large batch;
a thief pays the same price per row. The paper's flow (ask for a puzzle, solve it, send the
query) is the 428 path; paying ahead is ours.

**Departures from the paper**: the paper prices each query by its privacy cost under PATE,
which needs the owner's training data at query time; we estimate leakage from what the
gateway already knows — the rows the client has sent (one more bit, twice the work, each
time they double past ``free_rows``) and whether a detector has flagged it (``alarm_bits``)
— and price a batch of n rows as n puzzles (``log2 n`` more bits). PATE's privacy cost is
high where the teachers disagree, and it adds up over a client's queries; our stand-in is
the served model's own doubt, counted per key: with ``uncertain_bits: u``, every row costs
2^(u·s) times more, where s is the share of the key's rows so far (this batch included,
started from a prior of ``PRIOR_SHARE`` over ``PRIOR_ROWS`` rows) whose top probability
is below ``confident``. Natural traffic has a small share (8% on digits at 0.7);
boundary-seeking attacks (equation solving's balanced points, line searches) have nearly
all their rows there, and pay up to 2^u times more for each of them. Splitting the budget
over keys does not dilute a share (each key carries its own); mixing confident rows in
does, at the price of those rows. ``max_bits`` caps the bits of one row.
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

from modelsteal.errors import APIRefusal, InvalidInput
from modelsteal.oracle.work import HEADER, PARTS, leading_zero_bits, part_seeds, puzzle_for, puzzle_hash

#: a new key's doubt share starts from PRIOR_SHARE over PRIOR_ROWS rows, so one doubtful
#: row in a key's first small batch does not price it as a thief
PRIOR_SHARE = 0.1
PRIOR_ROWS = 20

#: a key's credit is topped up to AHEAD times its usual batch price with each answer
AHEAD = 3.0


class ProofRefused(APIRefusal):
    """A solution the gateway does not accept; ``code`` says why."""


@dataclass
class ProofOfWork:
    """HashCash puzzles whose difficulty grows with the client's leakage (see the module doc)."""

    # defaults calibrated by bench/proof_of_work.py on digits softmax (honest ≤ 2×)
    base_bits: int = 5
    free_rows: int = 1000
    alarm_bits: int = 10
    #: the most bits one row is priced at, however much the key took, doubted and alarmed
    max_bits: int = 17
    #: seconds a challenge stays good: an answer's challenge is solved before the next request
    ttl: float = 300.0
    #: a key whose rows all have a top probability below ``confident`` pays 2^uncertain_bits
    #: times more per row (0: the model's doubt is not priced); see the module doc
    uncertain_bits: int = 10
    confident: float = 0.7
    secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _spent: set[str] = field(default_factory=set, repr=False)
    _expiries: list[tuple[float, str]] = field(default_factory=list, repr=False)  # a heap
    #: hashes each key paid ahead and has not spent, and its usual price per batch
    _credit: dict[str, float] = field(default_factory=dict, repr=False)
    _usual: dict[str, float] = field(default_factory=dict, repr=False)
    #: rows each key sent that the model doubted, and all its rows (what its doubt share counts)
    _doubt: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

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

    def work_for(self, rows: int, *, taken: int, flagged: bool, share: float = 0.0) -> float:
        """Expected hashes asked of a batch of ``rows`` from a client that has ``taken`` rows so
        far, a ``share`` of its rows answered below ``confident`` (see :meth:`doubt_share`)."""
        bits = float(self.base_bits) + self.uncertain_bits * share
        if taken > self.free_rows:
            bits += int(math.log2(taken / self.free_rows))
        if flagged:
            bits += self.alarm_bits
        return float(max(rows, 1) * 2.0 ** min(bits, self.max_bits))  # max_bits caps each row

    def bits_for(self, rows: int, *, taken: int, flagged: bool, share: float = 0.0) -> int:
        """The same work in whole bits, rounded up (what a single HashCash puzzle would ask)."""
        return math.ceil(math.log2(self.work_for(rows, taken=taken, flagged=flagged, share=share)))

    def doubt_share(self, client: str, rows: int, uncertain: int) -> float:
        """The share of ``client``'s rows, this batch's included, the model answered below
        ``confident``, started from ``PRIOR_SHARE`` over ``PRIOR_ROWS`` rows."""
        past_uncertain, past_rows = self._doubt.get(client, (0, 0))
        return (PRIOR_SHARE * PRIOR_ROWS + past_uncertain + uncertain) / (PRIOR_ROWS + past_rows + rows)

    def _sign(self, client: str, salt: str, parts: int, part_bits: int, expires: int) -> str:
        text = f"{client}|{salt}|{parts}|{part_bits}|{expires}".encode()
        return hmac.new(self.secret.encode(), text, hashlib.sha256).hexdigest()

    def challenge(self, client: str, work: float, *, now: float | None = None) -> dict[str, Any]:
        """A puzzle worth at least ``work`` expected hashes of credit to ``client``."""
        expires = int((time.time() if now is None else now) + self.ttl)
        parts, part_bits = puzzle_for(work)
        salt = secrets.token_hex(8)
        seed = self._sign(client, salt, parts, part_bits, expires)
        return {
            "id": f"{expires}.{parts}.{part_bits}.{salt}",
            "seed": seed,
            "bits": round(math.log2(parts) + part_bits, 2),
            "parts": parts,
            "part_bits": part_bits,
            "hashes": parts * 2**part_bits,
            "expires": expires,
        }

    def redeem(self, client: str, proof: str, *, now: float | None = None) -> float:
        """Accept a solution once and add its hashes to ``client``'s credit, or raise
        :class:`ProofRefused` (invalid, expired, replayed); returns the hashes credited."""
        now = time.time() if now is None else now
        try:
            challenge_id, nonce_text = proof.rsplit(":", 1)
            expires_text, parts_text, bits_text, salt = challenge_id.split(".", 3)
            expires, parts, part_bits = int(expires_text), int(parts_text), int(bits_text)
            nonces = [int(n) for n in nonce_text.split(",")]
        except ValueError:
            raise ProofRefused(
                "proof_of_work_invalid", f"{HEADER} must be <challenge id>:<nonce>[,<nonce>...]"
            ) from None
        if not 0 <= part_bits <= 64 or not 1 <= parts <= 2 * PARTS or expires > now + self.ttl + 1:
            raise ProofRefused("proof_of_work_invalid", "the challenge was not issued by this gateway")
        seed = self._sign(client, salt, parts, part_bits, expires)
        if len(nonces) != parts:
            raise ProofRefused(
                "proof_of_work_invalid", f"this challenge takes {parts} nonces, not {len(nonces)}"
            )
        # a seed signed for another key (or made up) makes the nonces fail: they solve its seed
        for part_seed, nonce in zip(part_seeds(seed, parts), nonces, strict=True):
            if not 0 <= nonce < 2**64 or leading_zero_bits(puzzle_hash(part_seed, nonce)) < part_bits:
                raise ProofRefused(
                    "proof_of_work_invalid",
                    "a nonce does not solve the challenge (or it was issued to another key)",
                )
        if now > expires:
            raise ProofRefused("proof_of_work_expired", "the challenge expired; solve the new one")
        while self._expiries and self._expiries[0][0] < now:  # forget solutions past their expiry
            self._spent.discard(heapq.heappop(self._expiries)[1])
        if seed in self._spent:
            raise ProofRefused(
                "proof_of_work_replayed", "this solution was used already; solve the new challenge"
            )
        self._spent.add(seed)
        heapq.heappush(self._expiries, (float(expires), seed))
        paid = float(parts * 2**part_bits)
        self._credit[client] = self._credit.get(client, 0.0) + paid
        return paid

    def credit(self, client: str) -> float:
        """Hashes ``client`` has paid for and not yet spent."""
        return self._credit.get(client, 0.0)

    def charge(self, client: str, price: float, *, rows: int = 0, uncertain: int = 0) -> bool:
        """Take ``price`` from the credit if it covers it, and count the batch's ``rows`` and
        ``uncertain`` rows into the key's doubt share."""
        credit = self._credit.get(client, 0.0)
        if credit + 1e-6 < price:
            return False
        self._credit[client] = max(credit - price, 0.0)
        past_uncertain, past_rows = self._doubt.get(client, (0, 0))
        self._doubt[client] = (past_uncertain + uncertain, past_rows + rows)
        return True

    def refund(self, client: str, price: float, *, rows: int = 0, uncertain: int = 0) -> None:
        """Undo :meth:`charge`: a later stage refused the batch."""
        self._credit[client] = self._credit.get(client, 0.0) + price
        past_uncertain, past_rows = self._doubt.get(client, (0, 0))
        self._doubt[client] = (max(past_uncertain - uncertain, 0), max(past_rows - rows, 0))

    def advance(self, client: str, price: float, *, now: float | None = None) -> dict[str, Any] | None:
        """After a batch of ``price``: the challenge that tops the credit up to about three usual
        batches (a moving average of the key's prices), or None when the credit already does."""
        usual = self._usual.get(client)
        usual = price if usual is None else 0.75 * usual + 0.25 * price
        self._usual[client] = usual
        need = AHEAD * usual - self._credit.get(client, 0.0)
        return self.challenge(client, need, now=now) if need >= 1.0 else None
