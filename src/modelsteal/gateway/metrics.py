"""Prometheus metrics of one gateway: requests, rows, refusals by code, latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class GatewayMetrics:
    """Counters in a registry of their own, so several gateways in one process do not clash."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modelsteal_requests",
            "Requests by endpoint and status",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.rows = Counter("modelsteal_rows", "Rows answered", ["endpoint"], registry=self.registry)
        self.refusals = Counter(
            "modelsteal_refusals", "Refusals by stable code", ["code"], registry=self.registry
        )
        self.latency = Histogram(
            "modelsteal_request_seconds",
            "Time to answer a prediction request, inside the gateway",
            ["endpoint"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def observe(self, endpoint: str, status: int, rows: int, seconds: float) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.rows.labels(endpoint).inc(rows)
        self.latency.labels(endpoint).observe(seconds)

    def refusal(self, endpoint: str, status: int, code: str) -> None:
        self.requests.labels(endpoint, str(status)).inc()
        self.refusals.labels(code).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
