"""The reference handshake a game's own protocol can start with (see docs/protocol.md, section 5).

The client connects over TCP and sends one newline-terminated UTF-8 JSON line,
`{"v":1,"type":"hello","token":"<JWT>"}`; the server reads it (at most 16 KiB, within a timeout),
validates the token and answers one line, `{"ok":true,"player":{"id":...,"name":...}}` or
`{"ok":false,"reason":"<reason>"}`. After an ok the connection belongs to the game's protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from client_sdk.errors import HandshakeFailed, Malformed, PlaylinkError, error_for_reason
from client_sdk.untrusted_json import loads

HANDSHAKE_VERSION = 1
MAX_LINE_BYTES = 16 * 1024
TIMEOUT_S = 5.0
MAX_REASON_CHARS = 64


class Player(NamedTuple):
    """A player as the lobby names them: id and display name."""

    id: str
    name: str


def encode_hello(token: str) -> bytes:
    """The client's first line."""
    return json.dumps({"v": HANDSHAKE_VERSION, "type": "hello", "token": token}).encode() + b"\n"


def decode_hello(line: bytes) -> str:
    """The token of a hello line, or `Malformed` unless the line is exactly the agreed schema."""
    message = _decode_line(line)
    if not isinstance(message, dict) or set(message) != {"v", "type", "token"}:
        raise Malformed("a hello has exactly the keys v, type and token")
    if type(message["v"]) is not int or message["v"] != HANDSHAKE_VERSION or message["type"] != "hello":
        raise Malformed(f"only version {HANDSHAKE_VERSION} hello messages are understood")
    if not isinstance(message["token"], str):
        raise Malformed("the token must be a string")
    return message["token"]


def encode_reply(player: Player | None = None, reason: str | None = None) -> bytes:
    """The server's answer: ok with the player, or refused with a reason."""
    if player is not None:
        body: dict[str, object] = {"ok": True, "player": {"id": player.id, "name": player.name}}
    else:
        body = {"ok": False, "reason": reason or "internal"}
    return json.dumps(body, ensure_ascii=False).encode() + b"\n"


def decode_reply(line: bytes) -> Player:
    """The admitted player of a reply; the refusal's exception, or `HandshakeFailed` if off-schema."""
    try:
        reply = _decode_line(line)
    except Malformed:
        raise HandshakeFailed("the game server's reply is not one JSON line") from None
    if isinstance(reply, dict) and reply.get("ok") is True and set(reply) == {"ok", "player"}:
        player = reply["player"]
        if (
            isinstance(player, dict)
            and isinstance(player.get("id"), str)
            and isinstance(player.get("name"), str)
        ):
            return Player(player["id"], player["name"])
    if isinstance(reply, dict) and reply.get("ok") is False and isinstance(reply.get("reason"), str):
        reason = reply["reason"][:MAX_REASON_CHARS]
        raise error_for_reason(reason, f"the game server refused the join ({reason})")
    raise HandshakeFailed("the game server's reply is not of the agreed schema")


def _decode_line(line: bytes) -> object:
    """One JSON line, refusing oversize input, bad UTF-8 and embedded newlines."""
    if len(line) > MAX_LINE_BYTES or not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise Malformed("a handshake message is one newline-terminated line of at most 16 KiB")
    try:
        return loads(line[:-1])
    except ValueError:
        raise Malformed("the handshake message is not UTF-8 JSON") from None


@dataclass
class Connection:
    """An admitted connection to a game server: the streams, for the game's protocol, and the player."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    player: Player

    async def aclose(self) -> None:
        """Close the connection."""
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def hello(host: str, port: int, token: str, timeout_s: float = TIMEOUT_S) -> Connection:
    """Connect to a game server, send the token first, and return the admitted connection."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=MAX_LINE_BYTES), timeout_s
        )
    except (OSError, TimeoutError) as exc:
        raise HandshakeFailed(f"the game server could not be reached ({type(exc).__name__})") from None
    try:
        writer.write(encode_hello(token))
        await asyncio.wait_for(writer.drain(), timeout_s)
        line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout_s)
        return Connection(reader, writer, decode_reply(line))
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise HandshakeFailed(f"the game server did not answer the hello ({type(exc).__name__})") from None
    except BaseException:
        writer.close()
        raise


def hello_blocking(
    host: str, port: int, token: str, timeout_s: float = TIMEOUT_S
) -> tuple[socket.socket, Player]:
    """The blocking flavour of `hello`: the connected socket and the admitted player."""
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise HandshakeFailed(f"the game server could not be reached ({type(exc).__name__})") from None
    try:
        sock.sendall(encode_hello(token))
        return sock, decode_reply(_read_line_blocking(sock))
    except OSError as exc:
        sock.close()
        raise HandshakeFailed(f"the game server did not answer the hello ({type(exc).__name__})") from None
    except BaseException:
        sock.close()
        raise


def _read_line_blocking(sock: socket.socket) -> bytes:
    """One line of at most `MAX_LINE_BYTES` from a blocking socket, byte-exact (nothing read past it)."""
    data = bytearray()
    while not data.endswith(b"\n"):
        byte = sock.recv(1)
        if not byte:
            raise HandshakeFailed("the game server closed the connection without answering")
        data += byte
        if len(data) > MAX_LINE_BYTES:
            raise HandshakeFailed("the game server's reply is larger than 16 KiB")
    return bytes(data)


Admit = Callable[[str], Awaitable[Player]]


async def accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    admit: Admit,
    timeout_s: float = TIMEOUT_S,
) -> Player:
    """Server side: read the hello (bounded, timed), `admit` its token, and answer; raise if refused."""
    try:
        try:
            line = await asyncio.wait_for(_read_bounded(reader), timeout_s)
        except TimeoutError:
            raise Malformed("no complete hello within the timeout") from None
        player = await admit(decode_hello(line))
    except PlaylinkError as exc:
        await _answer_and_close(writer, encode_reply(reason=exc.reason), timeout_s)
        raise
    except Exception:
        await _answer_and_close(writer, encode_reply(reason="internal"), timeout_s)
        raise
    writer.write(encode_reply(player))
    await asyncio.wait_for(writer.drain(), timeout_s)
    return player


async def _read_bounded(reader: asyncio.StreamReader) -> bytes:
    """One line of at most `MAX_LINE_BYTES`, whatever limit the stream was opened with."""
    data = bytearray()
    while b"\n" not in data:
        chunk = await reader.read(MAX_LINE_BYTES + 1 - len(data))
        if not chunk:
            raise Malformed("the connection ended before a complete hello")
        data += chunk
        if len(data) > MAX_LINE_BYTES:
            raise Malformed("the hello is larger than 16 KiB")
    if not data.endswith(b"\n"):
        raise Malformed("the client sent more than the hello before the answer")
    return bytes(data)


async def _answer_and_close(writer: asyncio.StreamWriter, reply: bytes, timeout_s: float) -> None:
    """Send a refusal and close, ignoring a peer that already went away."""
    with contextlib.suppress(OSError, TimeoutError):
        writer.write(reply)
        await asyncio.wait_for(writer.drain(), timeout_s)
    writer.close()
