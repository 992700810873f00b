"""The gateway's query monitor: detector states per client and per group of clients.

Every answered batch goes to the client's own stream and to each group stream the client
belongs to, per served model:

- ``ip_prefix``: clients seen from the same /24 (IPv4) or /48 (IPv6) network;
- ``creation_burst``: keys created in the same ``creation_window`` (default 10 minutes),
  as a thief does who opens many keys at once.

A group stream raises alarms only once two or more clients have fed it, so a lone client
is judged on its own stream. Sharing an address or a creation window is no evidence by
itself (an office behind one NAT shares both): a group alarm names only the members whose
own queries carry the pattern — at least ``group_member_rows`` rows in the group, and the
share of those rows the detector flagged *in the group stream* (new inputs, narrow steps,
small margins, new cells, ...) on the alarming side of its threshold; for PRADA, whose
finding is about a whole distribution, the member's own stream's statistic — and it is
raised only when two or more members qualify. A thief that splits a line search over
keys round-robin makes each key's own steps look unrelated, but in the group stream its
rows are the narrow steps, so its keys are named and an honest neighbour is not. An attack split over many keys is then seen as one, while honest clients
who share a thief's address are not accused with it. A member who qualifies later is
named then. The monitor decides nothing; the gateway applies the policy's action for the
detector that fired.
"""

from __future__ import annotations

import ipaddress
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelsteal.defenses.detectors import Alarm, DetectionConfig, Detector, StreamState
from modelsteal.feature_space import FeatureSpace


@dataclass(frozen=True)
class AlarmEvent:
    """An alarm on a stream, with the clients it names and the action the policy asks for."""

    stream: str
    model: str
    members: tuple[str, ...]
    alarm: Alarm
    action: str


@dataclass
class _Stream:
    key: str
    states: list[StreamState]
    members: dict[str, int] = field(default_factory=dict)  # member -> rows it sent to this stream
    named: list[set[str]] = field(default_factory=list)  # per detector: members its alarm named
    retry: list[int] = field(default_factory=list)  # per detector: row count to look for backers again
    flagged: dict[str, list[int]] = field(default_factory=dict)  # member -> rows each detector flagged


def ip_prefix(ip: str) -> str:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return f"host:{ip}"
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


class Monitor:
    """Detector states for every stream; thread-safe."""

    def __init__(self, config: DetectionConfig) -> None:
        self.config = config
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._lock = threading.Lock()

    @property
    def detectors(self) -> tuple[Detector, ...]:
        return self.config.detectors

    def stream_keys(self, client: str, created: float, ip: str) -> list[str]:
        keys = [f"client:{client}"]
        if "ip_prefix" in self.config.groups:
            keys.append(f"net:{ip_prefix(ip)}")
        if "creation_burst" in self.config.groups:
            keys.append(f"created:{int(created // self.config.creation_window)}")
        return keys

    def observe(
        self,
        *,
        client: str,
        created: float,
        ip: str,
        model: str,
        space: FeatureSpace,
        n_classes: int,
        X: NDArray[np.float64],
        proba: NDArray[np.float64],
        now: float,
    ) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        with self._lock:
            for key in self.stream_keys(client, created, ip):
                stream = self._streams.get((key, model))
                if stream is None:
                    stream = _Stream(
                        key,
                        [d.stream(space, n_classes) for d in self.detectors],
                        named=[set() for _ in self.detectors],
                        retry=[0 for _ in self.detectors],
                    )
                    self._streams[(key, model)] = stream
                stream.members[client] = stream.members.get(client, 0) + X.shape[0]
                is_group = not key.startswith("client:")
                counts = stream.flagged.setdefault(client, [0] * len(self.detectors))
                for j, (detector, state) in enumerate(zip(self.detectors, stream.states, strict=True)):
                    alarm = state.observe(X, proba, now)
                    if state.row_flags is not None:
                        counts[j] += int(state.row_flags.sum())
                    if not is_group:
                        if alarm is not None:
                            stream.named[j].add(client)
                            events.append(AlarmEvent(key, model, (client,), alarm, detector.action))
                        continue
                    if state.alarm is None:
                        continue
                    if alarm is not None:
                        backed = []
                        if state.rows >= stream.retry[j]:  # look again once members have sent more
                            backed = self._backed(stream, j, model)
                            stream.retry[j] = state.rows + self.config.group_member_rows
                        if len(backed) < 2:
                            state.alarm = None  # not yet: a group of suspects needs two of them
                            continue
                        stream.named[j].update(backed)
                        events.append(AlarmEvent(key, model, tuple(backed), alarm, detector.action))
                    elif client not in stream.named[j] and client in self._backed(stream, j, model, [client]):
                        # a member of a caught group whose own queries now point the same way
                        stream.named[j].add(client)
                        events.append(AlarmEvent(key, model, (client,), state.alarm, detector.action))
        return events

    def _backed(self, stream: _Stream, j: int, model: str, who: list[str] | None = None) -> list[str]:
        """Members of a group whose own stream backs detector ``j``'s alarm on the group."""
        out = []
        state = stream.states[j]
        for member in sorted(who if who is not None else stream.members):
            rows = stream.members.get(member, 0)
            if rows < self.config.group_member_rows:
                continue
            if state.row_flags is not None:  # the member's share of the rows the group's detector flagged
                backed = state.points_to_extraction(stream.flagged[member][j] / rows)
            else:
                own = self._streams.get((f"client:{member}", model))
                backed = own is not None and own.states[j].points_to_extraction()
            if backed:
                out.append(member)
        return out

    def reset(self, client: str) -> None:
        """Forget a client's own streams (after an operator clears it)."""
        with self._lock:
            for key in [k for k in self._streams if k[0] == f"client:{client}"]:
                del self._streams[key]

    def report(self, client: str | None = None) -> list[dict[str, Any]]:
        """Scores, rows, alarms and memory of each stream (a client's own, or all)."""
        with self._lock:
            out = []
            for (key, model), stream in self._streams.items():
                if client is not None and key != f"client:{client}":
                    continue
                out.append(
                    {
                        "stream": key,
                        "model": model,
                        "members": sorted(stream.members),
                        "member_rows": dict(sorted(stream.members.items())),
                        "rows": stream.states[0].rows if stream.states else 0,
                        "bytes": sum(s.nbytes() for s in stream.states),
                        "detectors": {
                            d.name: {
                                "score": None if np.isnan(s.last_score) else round(float(s.last_score), 6),
                                "peak": None if np.isnan(s.peak) else round(float(s.peak), 6),
                                "alarm": None if s.alarm is None else s.alarm.to_dict(),
                                "bytes": s.nbytes(),
                            }
                            for d, s in zip(self.detectors, stream.states, strict=True)
                        },
                    }
                )
            return out
