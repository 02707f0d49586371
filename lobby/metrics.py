"""Prometheus metrics of one lobby app, in a registry of its own, and a store that times itself.

Each app has its own `CollectorRegistry`, so apps in one process never collide. Under
`lobby serve --workers N` (N > 1) the supervisor gives the workers one shared directory
(`PROMETHEUS_MULTIPROC_DIR`, read when `prometheus_client` is imported): every worker writes its
values there and `/metrics` answers with the sum over all of them, whichever worker is asked.
"""

from __future__ import annotations

import http
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from lobby.store import Store

UNMATCHED_ROUTE = "unmatched"
# Every label value that comes from a request is one of a fixed set, so that no client can add
# series (each series costs memory, scrape size and, with several workers, a file per worker).
OTHER_LABEL = "other"
METHOD_LABELS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"})
STATUS_LABELS = frozenset(str(code.value) for code in http.HTTPStatus)
SHARED_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
REQUEST_BUCKETS_S = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)
STORE_BUCKETS_S = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)


def method_label(method: str) -> str:
    """A request's method as a metrics label: one of `METHOD_LABELS`, or `other`."""
    return method if method in METHOD_LABELS else OTHER_LABEL


def status_label(status: int) -> str:
    """A response status as a metrics label: a registered HTTP status code, or `other`."""
    text = str(status)
    return text if text in STATUS_LABELS else OTHER_LABEL


class Metrics:
    """The lobby's counters, gauges and histograms, and the registry that renders them."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.shared_dir = os.environ.get(SHARED_DIR_ENV) or None
        if self.shared_dir is None:
            # process_* would describe only the worker that answers, so only one worker has them.
            ProcessCollector(registry=registry)
        self.requests = Counter(
            "playlink_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "playlink_http_request_duration_seconds",
            "Time from request to the end of the response (an event stream's whole life).",
            ["route", "method"],
            buckets=REQUEST_BUCKETS_S,
            registry=registry,
        )
        self.tokens_issued = Counter(
            "playlink_tokens_issued", "Join tokens signed.", registry=registry
        )
        self.tokens_redeemed = Counter(
            "playlink_tokens_redeemed", "Join tokens redeemed by their game server.", registry=registry
        )
        self.tokens_refused = Counter(
            "playlink_tokens_refused",
            "Redemptions refused, by reason.",
            ["reason"],
            registry=registry,
        )
        self.rate_limited = Counter(
            "playlink_rate_limited",
            "Requests refused with 429, by the rate-limit policy that refused them.",
            ["policy"],
            registry=registry,
        )
        self.event_subscribers = Gauge(
            "playlink_event_subscribers",
            "Open event streams (on all workers).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.store_seconds = Histogram(
            "playlink_store_operation_seconds",
            "Time of each store call, by operation.",
            ["operation"],
            buckets=STORE_BUCKETS_S,
            registry=registry,
        )

    def render(self) -> bytes:
        """Every metric in the Prometheus text format (all workers' when they share a directory)."""
        if self.shared_dir is None:
            return generate_latest(self.registry)
        pooled = CollectorRegistry()
        MultiProcessCollector(pooled, path=self.shared_dir)
        return generate_latest(pooled)


class TimedStore:
    """A `Store` that passes every call on and records how long its coroutines took."""

    def __init__(self, store: Store, histogram: Histogram) -> None:
        self._store = store
        self._histogram = histogram

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        timed = _timed(attr, self._histogram.labels(name))
        setattr(self, name, timed)
        return timed


def _timed(call: Callable[..., Awaitable[Any]], histogram: Histogram) -> Callable[..., Awaitable[Any]]:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - started)

    return timed


def timed_store(store: Store, metrics: Metrics) -> Store:
    """`store`, with each of its operations timed into `playlink_store_operation_seconds`."""
    return cast(Store, TimedStore(store, metrics.store_seconds))
