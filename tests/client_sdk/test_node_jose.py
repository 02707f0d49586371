"""A lobby-issued token verifies with another language's JWT library: Node's `jose`, from the JWKS."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.lobby import LobbyProcess, add_server, join, new_player

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def verify_with_jose(lobby: LobbyProcess, audience: str, token: str) -> tuple[int, dict[str, object]]:
    """Run tests/node/verify.mjs (the token goes on stdin, never argv); its exit code and output."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: the cross-language test needs Node.js 18 or later")
    if not (NODE_DIR / "node_modules" / "jose").is_dir():
        pytest.fail("jose is not installed: run `cd tests/node && npm install` (./dev test does it)")
    request = {"jwks_url": f"{lobby.url}/.well-known/jwks.json", "issuer": lobby.url, "audience": audience}
    result = subprocess.run(
        [node, "verify.mjs"],
        input=json.dumps({**request, "token": token}),
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_node_jose_verifies_a_lobby_issued_token_with_the_lobbys_jwks(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server, player = add_server(api), new_player(api)
    token = join(api, player, server)
    code, out = verify_with_jose(lobby, server.id, token)
    assert code == 0, out
    claims = out["claims"]
    assert isinstance(claims, dict)
    assert (claims["sub"], claims["name"], claims["srv"]) == (player.id, player.name, server.address)
    assert out["header"] == {"alg": "ES256", "kid": out["header"]["kid"], "typ": "playlink-join+jwt"}  # type: ignore[index]


def test_node_jose_refuses_the_same_token_for_another_server_or_tampered(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server = add_server(api)
    token = join(api, new_player(api), server)
    assert verify_with_jose(lobby, "s_another_server", token) == (
        1,
        {"error": "ERR_JWT_CLAIM_VALIDATION_FAILED"},
    )
    header, claims, signature = token.split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert verify_with_jose(lobby, server.id, f"{header}.{claims}.{flipped}") == (
        1,
        {"error": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"},
    )
