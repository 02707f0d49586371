"""Stand-ins for macOS itself, which cannot run here: LaunchServices, the frameworks behind ctypes, the clock.

`FakeFrameworks` is what `MacApi` loads instead of Carbon, CoreServices and CoreFoundation: each
function refuses to run unless `argtypes` and `restype` were set, converts every argument with its
declared type (as ctypes would), and then plays the part of macOS: an Apple Event queue whose
`AEProcessEvent` calls the handler installed for the event, CFStrings that must all be released,
and a per-user table of default URL-scheme handlers.
"""

from __future__ import annotations

import ctypes
from typing import Any

from launcher.platforms.macos_api import code

UNSET = object()
EVENT_LOOP_TIMED_OUT = -9875
ERR_AE_EVENT_NOT_HANDLED = -1708


class FakeClock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeLaunchServices:
    """LaunchServices' table of default handlers, as `MacPlatform` sees it."""

    def __init__(self, handler: str | None = None, refuse: bool = False) -> None:
        self.handlers: dict[str, str] = {} if handler is None else {"*": handler}
        self.refuse = refuse

    def default_handler(self, scheme: str) -> str | None:
        return self.handlers.get(scheme, self.handlers.get("*"))

    def set_default_handler(self, scheme: str, bundle_id: str) -> None:
        from launcher.errors import PlatformError

        if self.refuse:
            raise PlatformError(f"LaunchServices refused to make {bundle_id} handle {scheme}:// (-10814)")
        self.handlers[scheme] = bundle_id.lower()


class FakeFunction:
    """One framework function: checks its declared signature on every call, then runs `behaviour`."""

    def __init__(self, name: str, behaviour: Any) -> None:
        self.name = name
        self.behaviour = behaviour
        self.argtypes: Any = UNSET
        self.restype: Any = UNSET

    def __call__(self, *args: Any) -> Any:
        assert self.argtypes is not UNSET, f"{self.name} called without argtypes"
        assert self.restype is not UNSET, f"{self.name} called without restype"
        assert len(args) == len(self.argtypes), f"{self.name}: {len(args)} arguments for {self.argtypes}"
        for argtype, arg in zip(self.argtypes, args, strict=True):
            argtype.from_param(arg)  # raises TypeError as ctypes would
        return self.behaviour(*args)


def _value(arg: Any) -> Any:
    """Return what a pointer-sized argument holds (an int, a ctypes object's value, or None)."""
    return getattr(arg, "value", arg)


def _pointee(ref: Any) -> Any:
    """Return the object a `ctypes.byref(...)` argument points to."""
    return ref._obj


class FakeFrameworks:
    """Carbon, CoreServices and CoreFoundation as far as the launcher uses them."""

    def __init__(self, events: list[tuple[str, str | None]] | None = None, clock: FakeClock | None = None):
        self.events = list(events or [])
        self.clock = clock
        self.install_status = 0
        self.handlers: dict[tuple[int, int], Any] = {}
        self.delivered: dict[int, tuple[str, str | None]] = {}
        self.strings: dict[int, str] = {}
        self.released: list[int] = []
        self.defaults: dict[str, str] = {}
        self.unreleased_events: set[int] = set()
        self.processed: list[tuple[str, int]] = []
        self.functions: dict[str, FakeFunction] = {}

    def load(self, path: str) -> FakeFrameworks:
        """Stand in for `ctypes.CDLL(path)`: every framework is this object."""
        assert path.startswith("/System/Library/Frameworks/"), path
        return self

    def __getattr__(self, name: str) -> FakeFunction:
        behaviour = getattr(type(self), f"_{name}", None)
        assert behaviour is not None, f"the fake has no {name}"
        functions = self.__dict__["functions"]
        if name not in functions:
            functions[name] = FakeFunction(name, behaviour.__get__(self))
        return functions[name]

    # Apple Events
    def _AEInstallEventHandler(self, event_class: int, event_id: int, handler: Any, refcon: Any, system: int):
        self.handlers[(event_class, event_id)] = handler
        return self.install_status

    def _ReceiveNextEvent(self, count: int, spec: Any, timeout_s: float, pull: int, out: Any) -> int:
        assert (count, pull, _pointee(spec).eventClass, _pointee(spec).eventKind) == (1, 1, code("eppc"), 1)
        if not self.events:
            if self.clock is not None:
                self.clock.now += timeout_s
            return EVENT_LOOP_TIMED_OUT
        ref = 1000 + len(self.delivered)
        self.delivered[ref] = self.events.pop(0)
        self.unreleased_events.add(ref)
        _pointee(out).value = ref
        return 0

    def _AEProcessEvent(self, event: Any) -> int:
        kind, _url = self.delivered[_value(event)]
        event_class, event_id = ("GURL", "GURL") if kind == "GURL" else ("aevt", kind)
        handler = self.handlers.get((code(event_class), code(event_id)))
        result = ERR_AE_EVENT_NOT_HANDLED if handler is None else int(handler(_value(event), None, None))
        self.processed.append((kind, result))
        return result

    def _ReleaseEvent(self, event: Any) -> None:
        self.unreleased_events.discard(_value(event))

    def _AEGetParamPtr(self, event: Any, key: int, type_: int, actual: Any, buffer: Any, size: int, out: Any):
        assert (key, type_) == (code("----"), code("utf8"))
        data = (self.delivered[_value(event)][1] or "").encode()
        ctypes.memmove(buffer, data, min(len(data), size))
        _pointee(actual).value = code("utf8")
        _pointee(out).value = len(data)
        return 0

    # CoreFoundation strings
    def _CFStringCreateWithCString(self, allocator: Any, text: bytes, encoding: int) -> int:
        ref = 5000 + len(self.strings)
        self.strings[ref] = text.decode("utf-8")
        return ref

    def _CFStringGetCString(self, ref: Any, buffer: Any, size: int, encoding: int) -> int:
        data = self.strings[_value(ref)].encode() + b"\0"
        if len(data) > size:
            return 0
        ctypes.memmove(buffer, data, len(data))
        return 1

    def _CFRelease(self, ref: Any) -> None:
        assert _value(ref) in self.strings, "CFRelease of an unknown string"
        assert _value(ref) not in self.released, "double CFRelease"
        self.released.append(_value(ref))

    def unreleased_strings(self) -> set[int]:
        """Return the CFStrings created and never released."""
        return set(self.strings) - set(self.released)

    # LaunchServices
    def _LSSetDefaultHandlerForURLScheme(self, scheme: Any, bundle: Any) -> int:
        self.defaults[self.strings[_value(scheme)]] = self.strings[_value(bundle)]
        return 0

    def _LSCopyDefaultHandlerForURLScheme(self, scheme: Any) -> int | None:
        bundle = self.defaults.get(self.strings[_value(scheme)])
        if bundle is None:
            return None
        return self._CFStringCreateWithCString(None, bundle.encode(), 0)
