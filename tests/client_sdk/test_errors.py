"""Every lobby refusal becomes the exception of its `reason`, in one tree rooted in `PlaylinkError`."""

from __future__ import annotations

import httpx
import pytest

import client_sdk
from client_sdk import (
    LobbyRefused,
    LobbyUnavailable,
    Malformed,
    NotFound,
    PlaylinkError,
    RateLimited,
    ServerFull,
    TokenRefused,
    Unauthorized,
    Unavailable,
    error_for_reason,
    error_from_response,
)
from tests.support.lobby import LobbyProcess, add_server, join, new_player

DESIGN_REASONS = [
    "malformed",
    "bad_signature",
    "unknown_key",
    "wrong_type",
    "wrong_issuer",
    "expired",
    "not_yet_valid",
    "wrong_audience",
    "replayed",
    "unknown_token",
    "server_full",
    "server_offline",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "validation_error",
    "rate_limited",
    "unavailable",
    "lobby_unavailable",
]


@pytest.mark.parametrize("reason", DESIGN_REASONS)
def test_each_reason_of_the_design_has_its_own_exception(reason: str) -> None:
    error = error_for_reason(reason, "why")
    assert type(error) is not PlaylinkError
    assert error.reason == reason
    assert isinstance(error, PlaylinkError)


def test_an_unknown_reason_keeps_its_string_on_the_base_class() -> None:
    error = error_for_reason("brand_new\n", "why")
    assert type(error) is PlaylinkError
    assert error.reason == "brand_new?"


def test_the_token_refusals_and_the_lobby_refusals_are_separate_branches() -> None:
    assert issubclass(client_sdk.Replayed, TokenRefused)
    assert issubclass(ServerFull, LobbyRefused)
    assert issubclass(Unavailable, LobbyUnavailable)
    assert not issubclass(LobbyUnavailable, LobbyRefused)


def test_real_lobby_answers_map_to_their_exceptions(lobby: LobbyProcess, api: httpx.Client) -> None:
    server = add_server(api, capacity=1)
    refusals = {
        Malformed: api.post("/v1/tokens/redeem", json={"token": "a.b.c"}, headers=server.auth),
        Unauthorized: api.post("/v1/tokens/redeem", json={"token": "a.b.c"}),
        NotFound: api.get("/v1/games/s_nope"),
    }
    join(api, new_player(api), server)
    refusals[ServerFull] = api.post(f"/v1/games/{server.id}/join", headers=new_player(api).auth)
    for expected, response in refusals.items():
        error = error_from_response(response)
        assert type(error) is expected, response.text
        assert error.status == response.status_code
        assert error.detail


def test_a_rate_limit_carries_retry_after_and_a_non_problem_5xx_is_unavailable() -> None:
    limited = error_from_response(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"reason": "rate_limited"})
    )
    assert isinstance(limited, RateLimited)
    assert limited.retry_after_s == 7.0
    assert type(error_from_response(httpx.Response(502, text="<html>bad gateway</html>"))) is LobbyUnavailable
    assert type(error_from_response(httpx.Response(418, text=""))) is LobbyRefused
