"""The reference handshake is strict about what it reads on both sides, and bounded in size and time."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from client_sdk import HandshakeFailed, Malformed, ServerFull
from client_sdk.handshake import MAX_LINE_BYTES, decode_hello, decode_reply, encode_hello, hello
from tests.support.lobby import LobbyProcess, add_server, free_port

from .conftest import game_host


async def exchange(address: str, data: bytes) -> bytes:
    """Send raw bytes to a game server and return everything it answers before closing."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"v":1,"type":"hello","token":"a.b.c","extra":1}\n', "an extra key"),
        (b'{"v":2,"type":"hello","token":"a.b.c"}\n', "another version"),
        (b'{"v":true,"type":"hello","token":"a.b.c"}\n', "a boolean version"),
        (b'{"v":1,"type":"hello","token":7}\n', "a token that is not a string"),
        (b'\xff\xfe{"v":1}\n', "bytes that are not UTF-8"),
        (b'{"v":1,"type":"hello","token":"a.b.c"}\nMORE', "bytes after the hello before the answer"),
        (b"x" * (MAX_LINE_BYTES + 10), "more than 16 KiB"),
        (b'{"v":1,"type":"hello"', "a connection that ends mid-line"),
        (b"[" * 1400 + b"\n", "JSON nested 1,400 deep"),
        (b'{"v":1,"type":"hello","token":"\\ud800"}\n', "a lone surrogate escape"),
    ],
)
async def test_a_game_server_answers_malformed_to_a_hello_with(
    lobby: LobbyProcess, api: httpx.Client, data: bytes, why: str
) -> None:
    server = add_server(api)
    async with game_host(lobby.url, server) as host:
        host_address = server.address
        reply = (
            await exchange(host_address, data) if "ends" not in why else await _half_close(host_address, data)
        )
    assert json.loads(reply) == {"ok": False, "reason": "malformed"}, why
    assert host.refused == ["malformed"]


async def _half_close(address: str, data: bytes) -> bytes:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


async def test_a_silent_client_is_answered_malformed_after_the_timeout(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server = add_server(api)
    async with game_host(lobby.url, server, handshake_timeout_s=0.2) as host:
        reply = await exchange(server.address, b"")
    assert json.loads(reply)["reason"] == "malformed"
    assert host.refused == ["malformed"]


async def test_a_server_that_breaks_the_protocol_or_is_not_there_fails_the_handshake() -> None:
    async def garbage(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"ok": "yes"}\n')
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HandshakeFailed) as caught:
            await hello("127.0.0.1", port, "a.b.c", timeout_s=2)
        assert caught.value.reason == "handshake_failed"
    finally:
        listener.close()
        await listener.wait_closed()
    with pytest.raises(HandshakeFailed):
        await hello("127.0.0.1", free_port(), "a.b.c", timeout_s=2)


def test_the_hello_round_trips_and_a_refusal_becomes_the_reasons_exception() -> None:
    assert decode_hello(encode_hello("a.b.c")) == "a.b.c"
    with pytest.raises(ServerFull):
        decode_reply(b'{"ok":false,"reason":"server_full"}\n')
    with pytest.raises(Malformed):
        decode_hello(b'{"v":1,"type":"hello","token":"a.b.c"}')
    with pytest.raises(Malformed):
        decode_hello(b"[" * 1400 + b"\n")
    with pytest.raises(HandshakeFailed):
        decode_reply(b"[" * 1400 + b"\n")
    unknown = pytest.raises(HandshakeFailed)
    with unknown:
        decode_reply(b"not json\n")
