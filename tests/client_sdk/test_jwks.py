"""The JWKS cache honours Cache-Control, and forged kids cannot make it flood the lobby."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import pytest

from client_sdk import JWKSCache, LobbyUnavailable, UnknownKey
from client_sdk.jwks import max_age_of, usable_keys
from tests.support.lobby import LobbyProcess


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("public, max-age=60", 60.0),
        ('max-age="5"', 5.0),
        ("no-store", 0.0),
        ("public, no-cache, max-age=60", 0.0),
        ("max-age=99999999", 86400.0),
        (None, 60.0),
        ("private", 60.0),
    ],
)
def test_the_freshness_lifetime_follows_cache_control(header: str | None, seconds: float) -> None:
    assert max_age_of(header) == seconds


def test_only_es256_signing_keys_are_kept_from_a_jwks() -> None:
    good = {
        "kty": "EC",
        "crv": "P-256",
        "kid": "good",
        "alg": "ES256",
        "use": "sig",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    }
    others = [
        {**good, "kid": "enc", "use": "enc"},
        {**good, "kid": "p384", "crv": "P-384"},
        {"kty": "oct", "kid": "hs"},
    ]
    assert [key.key_id for key in usable_keys({"keys": [*others, good]}).keys] == ["good"]
    with pytest.raises(ValueError, match="no ES256"):
        usable_keys({"keys": others})


async def test_keys_are_fetched_once_while_fresh(lobby: LobbyProcess) -> None:
    async with JWKSCache(lobby.url) as jwks:
        await jwks.refresh()
        (kid,) = jwks.kids
        for _ in range(20):
            assert jwks.cached(kid) is not None
            await jwks.key(kid)
        assert jwks.fetches == 1


async def test_forged_kids_refetch_at_most_once_per_interval(lobby: LobbyProcess) -> None:
    async with JWKSCache(lobby.url, refetch_interval_s=60) as jwks:
        await jwks.refresh()
        for n in range(50):
            with pytest.raises(UnknownKey):
                await jwks.key(f"forged-{n}")
        assert jwks.fetches == 1
    async with JWKSCache(lobby.url, refetch_interval_s=0) as eager:
        await eager.refresh()
        with pytest.raises(UnknownKey):
            await eager.key("forged")
        assert eager.fetches == 2, "with no interval, an unknown kid does trigger a refetch"


async def test_a_jwks_answer_that_is_not_a_key_set_keeps_the_keys_held(lobby: LobbyProcess) -> None:
    async with httpx.AsyncClient() as client, JWKSCache(lobby.url, client=client) as jwks:
        await jwks.refresh()
        kids = jwks.kids
        jwks.url = lobby.url + "/v1/games"
        with pytest.raises(Exception, match="not usable"):
            await jwks.refresh()
        assert jwks.kids == kids


async def test_a_lobby_dripping_its_jwks_cannot_stretch_the_fetch_past_its_deadline() -> None:
    """A local HTTP server sends the headers, then the body one byte every 100 ms (30 s in all)."""
    body = b'{"keys": [' + b" " * 290 + b"]}"

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            writer.write(b"Content-Length: %d\r\n\r\n" % len(body))
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.1)
        writer.close()

    listener = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with JWKSCache(f"http://127.0.0.1:{port}", timeout_s=1.0) as jwks:
            started = time.monotonic()
            with pytest.raises(LobbyUnavailable):
                await jwks.key("any-kid")
            waited = time.monotonic() - started
    finally:
        listener.close()
    assert waited < 10, f"the 1 s fetch took {waited:.1f} s: the drip extended it"
