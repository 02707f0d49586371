"""The macOS bundle's Apple Event loop: receives `GURL` events and runs `launcher open`'s path on each URL.

LaunchServices starts the bundle and sends it a kAEGetURL event; a second click while the bundle
still runs sends it a second event. So the main thread keeps receiving events while a worker thread
hands the URLs off one at a time, in arrival order, each through the same strict path as
`launcher open -- URL`; `oapp` (opened without a URL) and `rapp` are answered and carry nothing.
The loop quits once nothing is queued or running and nothing has arrived for `IDLE_QUIT_S`, also
when no URL ever came. `serve` is the queue logic; `CarbonEventSource` is the Mac-only event source
behind it (Carbon's `ReceiveNextEvent` polled with a timeout, as py2app's argv emulator does).
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from launcher.errors import LauncherError, PlatformError
from launcher.platforms.macos_api import AE_HANDLER, EventTypeSpec, MacApi, code

IDLE_QUIT_S = 3.0
POLL_S = 0.25
MAX_URL_BYTES = 8 * 1024 + 1
EVENT_LOOP_TIMED_OUT = -9875  # eventLoopTimedOutErr


class EventSource(Protocol):
    """Where `serve` gets URLs from: on a Mac, Carbon's event queue."""

    def wait(self, timeout_s: float) -> list[str]:
        """Wait up to `timeout_s` for events; return the URLs they carried, oldest first."""
        ...


class _HandOffs:
    """The worker's queue and what it has done, shared with the receiving thread under one lock."""

    def __init__(self, hand_off: Callable[[str], int]) -> None:
        self.hand_off = hand_off
        self.ready = threading.Condition()
        self.queued: list[str | None] = []
        self.outstanding = 0
        self.exit_code = 0

    def put(self, url: str | None) -> None:
        """Queue a URL (None: stop once everything before it is served)."""
        with self.ready:
            self.queued.append(url)
            self.outstanding += url is not None
            self.ready.notify()

    def busy(self) -> bool:
        """Tell whether a URL is queued or being handed off."""
        with self.ready:
            return self.outstanding > 0

    def work(self) -> None:
        """Serve queued URLs in order until the stop marker."""
        while True:
            with self.ready:
                self.ready.wait_for(lambda: bool(self.queued))
                url = self.queued.pop(0)
            if url is None:
                return
            try:
                code = self.hand_off(url)
            except Exception:
                code = 1  # open_url catches everything; a worker that died would hang the loop
            with self.ready:
                self.outstanding -= 1
                self.exit_code = code or self.exit_code


def serve(
    source: EventSource,
    hand_off: Callable[[str], int],
    idle_quit_s: float = IDLE_QUIT_S,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Hand every URL from `source` to `hand_off` in order while still receiving; return once idle.

    The exit code is 0 when every hand-off returned 0 (or no URL came), else the last failure's.
    """
    hand_offs = _HandOffs(hand_off)
    worker = threading.Thread(target=hand_offs.work, name="playlink-hand-off")
    worker.start()
    last_activity = clock()
    try:
        while True:
            urls = source.wait(POLL_S)
            now = clock()
            for url in urls:
                hand_offs.put(url)
            if urls or hand_offs.busy():
                last_activity = now
            elif now - last_activity >= idle_quit_s:
                break
    finally:
        hand_offs.put(None)
        worker.join()
    return hand_offs.exit_code


class CarbonEventSource:
    """Apple Events from Carbon's queue: `GURL` yields its URL; `oapp` and `rapp` are answered."""

    def __init__(self, api: MacApi) -> None:
        self._api = api
        self._urls: list[str] = []
        self._spec = EventTypeSpec(code("eppc"), 1)  # kEventClassAppleEvent, kEventAppleEvent
        on_get_url, on_open = AE_HANDLER(self._on_get_url), AE_HANDLER(self._on_open)
        self._handlers = {("GURL", "GURL"): on_get_url, ("aevt", "oapp"): on_open, ("aevt", "rapp"): on_open}
        for (event_class, event_id), handler in self._handlers.items():  # kept alive by self._handlers
            status = api.AEInstallEventHandler(code(event_class), code(event_id), handler, None, 0)
            if status != 0:
                raise PlatformError(f"could not install the {event_id} Apple Event handler ({status})")

    def wait(self, timeout_s: float) -> list[str]:
        """Receive and dispatch at most one Apple Event within `timeout_s`; return the URLs it carried."""
        api = self._api
        event = ctypes.c_void_p()
        status = api.ReceiveNextEvent(1, ctypes.byref(self._spec), timeout_s, 1, ctypes.byref(event))
        if status == EVENT_LOOP_TIMED_OUT:
            return []
        if status != 0:
            raise PlatformError(f"receiving Apple Events failed ({status})")
        try:
            api.AEProcessEvent(event)
        finally:
            api.ReleaseEvent(event)
        urls, self._urls = self._urls, []
        return urls

    def _on_get_url(self, event: int | None, _reply: int | None, _refcon: int | None) -> int:
        """Copy the URL (UTF-8, direct object) out of a kAEGetURL event."""
        buffer = ctypes.create_string_buffer(MAX_URL_BYTES)
        actual_type, size = ctypes.c_uint32(), ctypes.c_long()
        status = self._api.AEGetParamPtr(
            event, code("----"), code("utf8"), ctypes.byref(actual_type), buffer, MAX_URL_BYTES,
            ctypes.byref(size),
        )  # fmt: skip
        if status != 0:
            return int(status)
        self._urls.append(buffer.raw[: min(size.value, MAX_URL_BYTES)].decode("utf-8", "replace"))
        return 0

    def _on_open(self, _event: int | None, _reply: int | None, _refcon: int | None) -> int:
        """Answer `oapp`/`rapp`: nothing to do; the idle timer ends a launch without a URL."""
        return 0


def main() -> int:
    """Receive URLs as Apple Events and hand each to the game client; return the exit code."""
    try:
        if sys.platform != "darwin":
            raise PlatformError("the Apple Event loop runs only on macOS", "unsupported")
        from launcher.cli import open_url

        return serve(CarbonEventSource(MacApi()), open_url)
    except LauncherError as exc:
        sys.stderr.write(f"launcher: {exc} [{exc.reason}]\n")
        return exc.exit_code
