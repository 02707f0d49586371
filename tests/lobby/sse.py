"""A small Server-Sent Events client for tests: httpx streaming on a thread, events on a queue."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

END = object()


@dataclass(frozen=True)
class Sse:
    """One event as received: its name, id and parsed JSON data (None for pings)."""

    name: str
    id: str | None
    data: Any


PING = Sse("ping", None, None)
# `Last-Event-ID`s no bus issued: a digit Python's isdigit() takes and int() refuses, too many
# digits for int(), ids from the future, and the shapes of the other buses' ids.
HOSTILE_EVENT_IDS = (
    "\u00b2", "1" * 5000, str(2**70), "9" * 19, "-1", "1-1", "99999999999999-0", "\u00b2-1"
)


class EventStream:
    """`GET /v1/events` read on a thread; `next` takes events in order, with a timeout."""

    def __init__(self, base_url: str, headers: dict[str, str] | None = None) -> None:
        """Open the stream; header values go out as Latin-1 bytes, as a raw client may send them."""
        self.events: queue.Queue[object] = queue.Queue()
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.body = b""
        self._opened = threading.Event()
        self._stop = threading.Event()
        self._client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(10, read=30))
        self._thread = threading.Thread(target=self._run, args=(headers or {},), daemon=True)
        self._thread.start()
        if not self._opened.wait(10):
            raise TimeoutError("the event stream did not answer")

    def _run(self, headers: dict[str, str]) -> None:
        try:
            raw = {name: value.encode("latin-1") for name, value in headers.items()}
            with self._client.stream("GET", "/v1/events", headers=raw) as r:
                self.status, self.headers = r.status_code, r.headers
                if r.status_code != 200:
                    self.body = r.read()
                    return
                self._opened.set()
                self._parse(r)
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.events.put(END)

    def _parse(self, r: httpx.Response) -> None:
        fields: dict[str, str] = {}
        for line in r.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith(":"):
                self.events.put(PING)
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                data = json.loads(fields["data"]) if "data" in fields else None
                self.events.put(Sse(fields.get("event", "message"), fields.get("id"), data))
                fields = {}

    def next(self, timeout_s: float = 2.0, pings: bool = False) -> Sse:
        """The next event (pings skipped unless asked for); `TimeoutError` when none comes."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                item = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError("no event in time") from None
            if item is END:
                self.events.put(END)
                raise EOFError("the stream ended")
            assert isinstance(item, Sse)
            if item is not PING or pings:
                return item

    def until(self, test: Any, timeout_s: float = 2.0) -> tuple[Sse, list[Sse]]:
        """Skip events until one passes `test`; returns it and the ones skipped."""
        deadline = time.monotonic() + timeout_s
        skipped = []
        while True:
            event = self.next(max(0.0, deadline - time.monotonic()))
            if test(event):
                return event, skipped
            skipped.append(event)

    def ended_within(self, timeout_s: float) -> bool:
        """Whether the server ends the stream within `timeout_s`."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Stop reading and drop the connection."""
        self._stop.set()
        self._client.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
