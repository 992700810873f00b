"""The gateway's query monitor: detector states per client and per group of clients.

Every answered batch goes to the client's own stream and to each group stream the client
belongs to, per served model:

- ``ip_prefix``: clients seen from the same /24 (IPv4) or /48 (IPv6) network;
- ``creation_burst``: keys created in the same ``creation_window`` (default 10 minutes),
  as a thief does who opens many keys at once.

A group stream raises alarms only once two or more clients have fed it, so a lone client
is judged on its own stream. An alarm on a group names every member: an attack split over
many keys is seen as one. The monitor decides nothing; the gateway applies the policy's
action for the detector that fired.
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
    members: set[str] = field(default_factory=set)
    named: list[set[str]] = field(default_factory=list)  # per detector: members its alarm named


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
                    )
                    self._streams[(key, model)] = stream
                stream.members.add(client)
                is_group = not key.startswith("client:")
                for j, (detector, state) in enumerate(zip(self.detectors, stream.states, strict=True)):
                    if is_group and len(stream.members) < 2:
                        state.observe(X, proba, now)
                        state.alarm = None  # a group of one judges nobody
                        continue
                    alarm = state.observe(X, proba, now)
                    if alarm is not None:
                        members = tuple(sorted(stream.members))
                        stream.named[j].update(members)
                        events.append(AlarmEvent(key, model, members, alarm, detector.action))
                    elif state.alarm is not None and client not in stream.named[j]:
                        # a key that joins a group already caught is named too
                        stream.named[j].add(client)
                        events.append(AlarmEvent(key, model, (client,), state.alarm, detector.action))
        return events

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
