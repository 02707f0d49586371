"""Run a callback as soon as the server is asked to stop, before it waits for open connections.

uvicorn, on SIGTERM or SIGINT, waits for every open connection to finish before it runs the
lifespan's shutdown; an event stream never finishes on its own, so the lobby must end its streams
when the signal arrives. `on_stop_signal` chains a handler in front of the server's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def on_stop_signal(callback: Callable[[], object]) -> Iterator[None]:
    """While inside, call `callback` in this event loop when SIGTERM or SIGINT arrives."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    previous = {}

    def handler(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(callback)
        chained = previous.get(signum)
        if callable(chained):
            chained(signum, frame)

    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)
