"""The Carbon, CoreServices and CoreFoundation calls of the macOS launcher, each bound with its C signature.

ctypes passes and returns a C `int` for anything it is not told about, which truncates 64-bit
pointers (`CFStringRef`, `EventRef`) and mis-passes doubles (`EventTimeout`). So every function
the launcher calls is listed in `SIGNATURES` and reached only through `MacApi`, which sets
`argtypes` and `restype` before handing it out and refuses any name not listed. Loading the
frameworks needs a Mac; the tests give `MacApi` a fake loader that checks each call's arguments.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

from launcher.errors import PlatformError

CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"
CORE_SERVICES = "/System/Library/Frameworks/CoreServices.framework/CoreServices"
CORE_FOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
CF_UTF8 = 0x08000100  # kCFStringEncodingUTF8
MAX_BUNDLE_ID_BYTES = 512

OSErr = ctypes.c_int16
OSStatus = ctypes.c_int32
Boolean = ctypes.c_ubyte
FourCharCode = ctypes.c_uint32
AE_HANDLER = ctypes.CFUNCTYPE(OSErr, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class EventTypeSpec(ctypes.Structure):
    """Carbon's `EventTypeSpec`: an event class and kind to receive."""

    _fields_ = [("eventClass", FourCharCode), ("eventKind", ctypes.c_uint32)]


_P = ctypes.c_void_p
_SIZE = ctypes.c_long  # Size, CFIndex
SIGNATURES: dict[str, dict[str, tuple[Any, list[Any]]]] = {
    CARBON: {
        "AEInstallEventHandler": (OSErr, [FourCharCode, FourCharCode, AE_HANDLER, _P, Boolean]),
        "AEGetParamPtr": (
            OSErr,
            [_P, FourCharCode, FourCharCode, ctypes.POINTER(FourCharCode), _P, _SIZE, ctypes.POINTER(_SIZE)],
        ),
        "ReceiveNextEvent": (
            OSStatus,
            [ctypes.c_ulong, ctypes.POINTER(EventTypeSpec), ctypes.c_double, Boolean, ctypes.POINTER(_P)],
        ),
        "AEProcessEvent": (OSStatus, [_P]),
        "ReleaseEvent": (None, [_P]),
    },
    CORE_SERVICES: {
        "LSSetDefaultHandlerForURLScheme": (OSStatus, [_P, _P]),
        "LSCopyDefaultHandlerForURLScheme": (_P, [_P]),
    },
    CORE_FOUNDATION: {
        "CFStringCreateWithCString": (_P, [_P, ctypes.c_char_p, ctypes.c_uint32]),
        "CFStringGetCString": (Boolean, [_P, ctypes.c_char_p, _SIZE, ctypes.c_uint32]),
        "CFRelease": (None, [_P]),
    },
}


def code(text: str) -> int:
    """Return the 32-bit four-character code of `text` (`"GURL"` -> 0x4755524C)."""
    return int.from_bytes(text.encode("ascii"), "big")


class MacApi:
    """The frameworks' functions listed in `SIGNATURES`, with `argtypes` and `restype` set."""

    def __init__(self, loader: Callable[[str], Any] = ctypes.CDLL) -> None:
        self._functions: dict[str, Any] = {}
        for path, functions in SIGNATURES.items():
            try:
                library = loader(path)
            except OSError as exc:
                raise PlatformError(f"cannot load {path}: {exc}", "unsupported") from None
            for name, (restype, argtypes) in functions.items():
                function = getattr(library, name)
                function.restype = restype
                function.argtypes = argtypes
                self._functions[name] = function

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_functions"][name]
        except KeyError:
            raise AttributeError(f"{name} is not declared in SIGNATURES") from None


class LaunchServices:
    """Reads and sets the default handler of a URL scheme (LaunchServices, per user)."""

    def __init__(self, api: MacApi | None = None) -> None:
        self._api = api

    def default_handler(self, scheme: str) -> str | None:
        """Return the bundle id LaunchServices opens `scheme` URLs with (lowercase), or None."""
        api = self._loaded()
        name = _cf_string(api, scheme)
        try:
            handler = api.LSCopyDefaultHandlerForURLScheme(name)
        finally:
            api.CFRelease(name)
        if not handler:
            return None
        try:
            buffer = ctypes.create_string_buffer(MAX_BUNDLE_ID_BYTES)
            ok = api.CFStringGetCString(handler, buffer, MAX_BUNDLE_ID_BYTES, CF_UTF8)
        finally:
            api.CFRelease(handler)
        return buffer.value.decode("utf-8").lower() if ok else None

    def set_default_handler(self, scheme: str, bundle_id: str) -> None:
        """Make the bundle `bundle_id` open `scheme` URLs; raise `PlatformError` if refused."""
        api = self._loaded()
        name = _cf_string(api, scheme)
        try:
            bundle = _cf_string(api, bundle_id)
            try:
                status = api.LSSetDefaultHandlerForURLScheme(name, bundle)
            finally:
                api.CFRelease(bundle)
        finally:
            api.CFRelease(name)
        if status != 0:
            raise PlatformError(f"LaunchServices refused to make {bundle_id} handle {scheme}:// ({status})")

    def _loaded(self) -> MacApi:
        """Return the frameworks, loading them on first use."""
        if self._api is None:
            self._api = MacApi()
        return self._api


def _cf_string(api: MacApi, text: str) -> int:
    """Return a new CFString of `text` (the caller releases it)."""
    value = api.CFStringCreateWithCString(None, text.encode("utf-8"), CF_UTF8)
    if not value:
        raise PlatformError("CoreFoundation could not create a string")
    return int(value)
