"""The launch URL parser accepts exactly the DESIGN.md shape and nothing else."""

from __future__ import annotations

import pytest

from launcher.errors import URLRefused
from launcher.urls import Join, normalize_lobby, parse_launch_url, redact, scheme_of

from .conftest import LOBBY, LOBBY_ENCODED, SCHEME, TOKEN, VALID_URL


def parse(url: str) -> Join:
    return parse_launch_url(url, SCHEME, [LOBBY])


def test_the_design_shape_yields_the_lobby_and_the_token() -> None:
    assert parse(VALID_URL) == Join(LOBBY, TOKEN)


def test_parameters_may_come_in_any_order() -> None:
    url = f"{SCHEME}://join?token={TOKEN}&lobby={LOBBY_ENCODED}&v=1"
    assert parse(url) == Join(LOBBY, TOKEN)


def test_an_unencoded_lobby_is_accepted_since_decoding_is_a_no_op() -> None:
    assert parse(f"{SCHEME}://join?v=1&lobby={LOBBY}&token={TOKEN}").lobby == LOBBY


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("https://lobby.example", "https://lobby.example"),
        ("https://LOBBY.Example/", "https://lobby.example"),
        ("HTTPS://lobby.example:443", "https://lobby.example"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://[::1]:80/play/", "http://[::1]/play"),
        ("https://lobby.example/eu/arena", "https://lobby.example/eu/arena"),
    ],
)
def test_lobbies_are_compared_by_normalized_origin_and_path(given: str, normalized: str) -> None:
    assert normalize_lobby(given) == normalized


def test_a_lobby_on_another_path_of_a_trusted_host_is_refused() -> None:
    with pytest.raises(URLRefused) as caught:
        parse(f"{SCHEME}://join?v=1&lobby=https%3A%2F%2Flobby.example%2Fevil&token={TOKEN}")
    assert caught.value.reason == "untrusted_lobby"


def test_a_url_of_another_scheme_is_refused() -> None:
    with pytest.raises(URLRefused, match="only arena://"):
        parse_launch_url(VALID_URL.replace("arena", "other", 1), SCHEME, [LOBBY])


@pytest.mark.parametrize("url", ["Arena://join?v=1", "ARENA://join", "1arena://join", "ar_ena://x"])
def test_scheme_must_be_a_lowercase_rfc3986_scheme(url: str) -> None:
    with pytest.raises(URLRefused):
        scheme_of(url)


@pytest.mark.parametrize("char", ["\0", "\r", "\n", "\t", " ", "\x7f", "\u00e9", "\u202e"])
def test_control_space_and_non_ascii_characters_are_refused(char: str) -> None:
    with pytest.raises(URLRefused, match="control or non-ASCII"):
        parse(VALID_URL + char)


def test_refusal_messages_never_contain_the_token() -> None:
    for url in [VALID_URL + "&v=1", VALID_URL.replace(LOBBY_ENCODED, "https://evil.example")]:
        with pytest.raises(URLRefused) as caught:
            parse(url)
        assert TOKEN not in str(caught.value)


def test_redact_hides_token_values_and_anything_jwt_shaped() -> None:
    text = f"url {VALID_URL} raw {TOKEN}."
    assert TOKEN not in redact(text)
    assert "lobby=https%3A%2F%2Flobby.example" in redact(text)


def test_join_repr_hides_the_token() -> None:
    assert TOKEN not in repr(Join(LOBBY, TOKEN))
