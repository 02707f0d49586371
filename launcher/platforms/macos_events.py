"""The macOS bundle's Apple Event loop: receives one `GURL` event and runs `launcher open` on its URL.

Mac-only (ctypes against Carbon and CoreServices), so it is not exercised by the Linux test suite;
it is kept this small on purpose. LaunchServices starts the bundle and sends kAEGetURL; the handler
copies the URL out of the event, quits the loop, and the URL goes through the same strict path as
`launcher open -- URL`.
"""

from __future__ import annotations

CARBON = "/System/Library/Frameworks/Carbon.framework/Carbon"
CORE_FOUNDATION = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation"
MAX_URL_BYTES = 8 * 1024 + 1
_UTF8 = 0x08000100  # kCFStringEncodingUTF8


def _code(text: str) -> int:
    """Return the 32-bit four-character code of `text`."""
    return int.from_bytes(text.encode("ascii"), "big")


def main() -> int:
    """Wait for the GetURL Apple Event, then hand its URL to `launcher open`; return the exit code."""
    import ctypes

    from launcher.cli import open_url

    carbon = ctypes.cdll.LoadLibrary(CARBON)
    received: list[str] = []
    handler_type = ctypes.CFUNCTYPE(ctypes.c_int16, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)

    def on_get_url(event: int, _reply: int, _refcon: int) -> int:
        buffer = ctypes.create_string_buffer(MAX_URL_BYTES)
        actual_type, size = ctypes.c_uint32(), ctypes.c_long()
        status = carbon.AEGetParamPtr(
            ctypes.c_void_p(event), _code("----"), _code("utf8"), ctypes.byref(actual_type),
            buffer, MAX_URL_BYTES, ctypes.byref(size),
        )  # fmt: skip
        if status == 0 and size.value < MAX_URL_BYTES:
            received.append(buffer.raw[: size.value].decode("utf-8", "replace"))
        carbon.QuitApplicationEventLoop()
        return 0

    callback = handler_type(on_get_url)
    carbon.AEInstallEventHandler(_code("GURL"), _code("GURL"), callback, None, False)
    carbon.RunApplicationEventLoop()
    return open_url(received[0]) if received else 2


def default_handler_bundle_id(scheme: str) -> str | None:
    """Return LaunchServices' default handler bundle id for `scheme`, or None."""
    import ctypes

    services = ctypes.cdll.LoadLibrary(CARBON)
    foundation = ctypes.cdll.LoadLibrary(CORE_FOUNDATION)
    foundation.CFStringCreateWithCString.restype = ctypes.c_void_p
    services.LSCopyDefaultHandlerForURLScheme.restype = ctypes.c_void_p
    name = foundation.CFStringCreateWithCString(None, scheme.encode("ascii"), _UTF8)
    handler = services.LSCopyDefaultHandlerForURLScheme(ctypes.c_void_p(name))
    foundation.CFRelease(ctypes.c_void_p(name))
    if not handler:
        return None
    buffer = ctypes.create_string_buffer(512)
    ok = foundation.CFStringGetCString(ctypes.c_void_p(handler), buffer, 512, _UTF8)
    foundation.CFRelease(ctypes.c_void_p(handler))
    return buffer.value.decode("utf-8").lower() if ok else None
