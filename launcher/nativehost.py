"""The launcher as a browser's native messaging host: joins from the game's extension, handed off.

Framing is the browsers' own: each message is a 4-byte length in native byte order, then that many
bytes of UTF-8 JSON; at most 1 MiB each way. The extension sends

    {"v": 1, "type": "join", "origin": "https://lobby.example", "url": "arena://join?v=1&..."}

where `origin` is the page's origin as the browser reported it to the extension (never what the
page says), and `url` is the launch URL the lobby issued. The host answers each message with
`{"ok": true}` once the game client took the join, or `{"ok": false, "reason": ..., "error": ...}`.
Messages are answered one by one until the browser closes stdin; a framing error is answered and
ends the session. Like `launcher open`, this is on the click's path: standard library only, with
the URL parsed, trusted and handed off by the very code `launcher open` runs.
"""

from __future__ import annotations

import os
import sys

from launcher import fastjson
from launcher.errors import LauncherError, MessageRefused, URLRefused
from launcher.urls import normalize_lobby, redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

MAX_MESSAGE_BYTES = 1024 * 1024
HOST_VERSION = 1
HEADER_BYTES = 4
EXIT_OK = 0
EXIT_FRAMING = 2
_KEYS = frozenset({"v", "type", "origin", "url"})
_OK = b'{"ok": true}'


def serve(scheme: str, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """Answer every message on `stdin` for `scheme` until end of input; return the exit code."""
    while True:
        try:
            body = read_message(stdin)
        except MessageRefused as exc:
            try:
                write_message(stdout, encode_reply(exc))
            except OSError:
                _detach(stdout)
            return EXIT_FRAMING
        if body is None:
            return EXIT_OK
        try:
            write_message(stdout, answer(scheme, body))
        except OSError:  # the browser closed the port before the answer: nobody is left to tell
            _detach(stdout)
            return EXIT_OK


def read_message(stream: BinaryIO) -> bytes | None:
    """Read one framed message; None at a clean end of input, `MessageRefused` for a bad frame."""
    header = _read_exact(stream, HEADER_BYTES)
    if not header:
        return None
    if len(header) < HEADER_BYTES:
        raise MessageRefused("the message's length prefix is cut short")
    length = int.from_bytes(header, sys.byteorder)
    if length > MAX_MESSAGE_BYTES:
        raise MessageRefused(f"a message is longer than {MAX_MESSAGE_BYTES} bytes", "too_large")
    body = _read_exact(stream, length)
    if len(body) < length:
        raise MessageRefused("the message is shorter than its length prefix")
    return body


def write_message(stream: BinaryIO, body: bytes) -> None:
    """Write one framed message and flush it."""
    stream.write(len(body).to_bytes(HEADER_BYTES, sys.byteorder) + body)
    stream.flush()


def answer(scheme: str, body: bytes) -> bytes:
    """Validate one join message and hand it off; return the reply's JSON bytes."""
    from launcher import cli

    try:
        origin, url = decode_join(body)
        cli.launch(url, scheme, origin)
    except LauncherError as exc:
        return encode_reply(exc)
    except Exception as exc:
        return encode_reply(LauncherError(f"internal error ({type(exc).__name__})"))
    return _OK


def decode_join(body: bytes) -> tuple[str, str]:
    """Return the origin and URL of a join message with exactly the agreed keys and types."""
    try:
        message = fastjson.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise URLRefused(f"the message is not UTF-8 JSON ({exc})") from None
    if not isinstance(message, dict) or set(message) != _KEYS:
        raise URLRefused("a join message has exactly the keys v, type, origin and url")
    version = message["v"]
    if type(version) is not int or version != HOST_VERSION or message["type"] != "join":
        raise URLRefused(f"only version {HOST_VERSION} join messages are understood")
    origin, url = message["origin"], message["url"]
    if not isinstance(origin, str) or not isinstance(url, str):
        raise URLRefused("origin and url must be strings")
    return origin, url


def check_origin(origin: str, trusted_lobbies: list[str]) -> str:
    """Return `origin` if it is exactly the origin of one of `trusted_lobbies`, else refuse it."""
    try:
        normal = normalize_lobby(origin)
    except URLRefused:
        raise URLRefused("the page's origin is not an http(s) origin", "untrusted_origin") from None
    if normal != origin or normal not in {origin_of(lobby) for lobby in trusted_lobbies}:
        shown = origin[:200] if origin.isascii() and origin.isprintable() else "?"
        raise URLRefused(f"the page's origin {shown} is not a trusted lobby", "untrusted_origin")
    return origin


def origin_of(lobby: str) -> str:
    """Return the origin (`scheme://host[:port]`) of a normalized lobby URL."""
    scheme, _sep, rest = lobby.partition("://")
    return f"{scheme}://{rest.partition('/')[0]}"


def encode_reply(exc: LauncherError) -> bytes:
    """Encode the refusal of `exc`: its reason and its redacted one-line message."""
    message = " ".join(redact(str(exc)).split())[:1000]
    reason, error = fastjson.dumps_str(exc.reason), fastjson.dumps_str(message)
    return f'{{"ok": false, "reason": {reason}, "error": {error}}}'.encode()


def _read_exact(stream: BinaryIO, count: int) -> bytes:
    """Read `count` bytes, fewer only at the end of input."""
    chunks: list[bytes] = []
    left = count
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _detach(stream: BinaryIO) -> None:
    """Point a stream whose reader is gone at the null device, so that exiting cannot fail on it."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
