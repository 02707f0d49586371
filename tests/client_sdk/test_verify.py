"""Offline verification pins the algorithm, the type, the issuer and the audience, and needs every claim."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from client_sdk import AsyncGameServer, PlaylinkError, Policy, Replayed, ReplayGuard, Unavailable
from tests.support.lobby import LobbyProcess, Server, add_server, join, new_player

from .conftest import private_keys
from .tokens import claims_of, forge, fresh


class FromNow(int):
    """A time claim given relative to the moment the test runs."""


def resolve(changes: dict[str, object]) -> dict[str, object]:
    """`changes` with every `FromNow` turned into epoch seconds now."""
    now = int(time.time())
    return {k: now + v if isinstance(v, FromNow) else v for k, v in changes.items()}


@pytest.fixture
async def offline(
    lobby: LobbyProcess, api: httpx.Client
) -> AsyncIterator[tuple[AsyncGameServer, Server, str]]:
    """An offline-verifying game server of the shared lobby, and a real token for it."""
    server = add_server(api)
    token = join(api, new_player(api), server)
    async with AsyncGameServer(lobby.url, server.id, server.secret, policy=Policy.OFFLINE) as sdk:
        yield sdk, server, token


@pytest.mark.parametrize(
    ("changes", "header", "reason"),
    [
        ({}, {}, None),
        ({"exp": FromNow(-60)}, {}, "expired"),
        ({"exp": FromNow(-3)}, {}, None),
        ({"nbf": FromNow(60)}, {}, "not_yet_valid"),
        ({"iat": FromNow(60)}, {}, "not_yet_valid"),
        ({"aud": "s_another_server"}, {}, "wrong_audience"),
        ({"aud": ["s_another_server"]}, {}, "wrong_audience"),
        ({"iss": "https://evil.example"}, {}, "wrong_issuer"),
        ({"srv": None}, {}, "malformed"),
        ({"name": None}, {}, "malformed"),
        ({"jti": None}, {}, "malformed"),
        ({"sub": ""}, {}, "malformed"),
        ({"exp": "9999999999"}, {}, "malformed"),
        ({}, {"typ": "JWT"}, "wrong_type"),
        ({}, {"kid": "unknown"}, "unknown_key"),
        ({}, {"wrong_key": True}, "bad_signature"),
    ],
)
async def test_a_crafted_token_is_judged(
    lobby: LobbyProcess,
    offline: tuple[AsyncGameServer, Server, str],
    changes: dict[str, object],
    header: dict[str, object],
    reason: str | None,
) -> None:
    sdk, server, token = offline
    (kid, key), *_ = sorted(private_keys(lobby.data_dir).items(), reverse=True)
    kid = str(header.get("kid", next(iter(sdk.jwks.kids))))
    signing_key = None if header.get("wrong_key") else key
    crafted = forge(
        fresh(claims_of(token), **resolve(changes)),
        signing_key,
        kid,
        typ=str(header.get("typ", "playlink-join+jwt")),
    )
    if reason is None:
        assert (await sdk.verify(crafted)).game == server.id
        return
    with pytest.raises(PlaylinkError) as caught:
        await sdk.verify(crafted)
    assert getattr(caught.value, "reason", None) == reason


async def test_a_token_not_signed_with_es256_is_refused_whatever_its_header_says(
    offline: tuple[AsyncGameServer, Server, str],
) -> None:
    sdk, _server, token = offline
    for algorithm in ("HS256", "none"):
        crafted = forge(
            fresh(claims_of(token)), "a-shared-secret-of-32-bytes-or-more!", "x", algorithm=algorithm
        )
        with pytest.raises(PlaylinkError) as caught:
            await sdk.verify(crafted)
        assert getattr(caught.value, "reason", None) == "bad_signature"
    for junk in ("", "a.b", "not a token", "x" * 5000, "e30.e30.e30"):
        with pytest.raises(PlaylinkError) as caught:
            await sdk.verify(junk)
        assert getattr(caught.value, "reason", None) in {"malformed", "bad_signature"}


def test_the_replay_guard_forgets_expired_tokens_and_is_bounded() -> None:
    clock = [1000.0]
    guard = ReplayGuard(max_entries=2, clock=lambda: clock[0])
    guard.use("a", until=1010)
    with pytest.raises(Replayed):
        guard.use("a", until=1010)
    guard.use("b", until=1100)
    with pytest.raises(Unavailable):
        guard.use("c", until=1100)
    clock[0] = 1011.0
    assert not guard.seen("a")
    guard.use("c", until=1100)
    assert len(guard) == 2


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize("where", ["header", "claims"])
async def test_a_deeply_nested_token_is_malformed_not_a_recursion_error(
    offline: tuple[AsyncGameServer, Server, str], where: str
) -> None:
    sdk, _server, token = offline
    head, body, sig = token.split(".")
    nested = _b64(b"[" * 1400)
    crafted = f"{nested}.{body}.{sig}" if where == "header" else f"{head}.{nested}.{sig}"
    with pytest.raises(PlaylinkError) as caught:
        await sdk.verify(crafted)
    assert caught.value.reason == "malformed"
