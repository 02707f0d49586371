"""Hostile join tokens at `POST /v1/tokens/redeem`: each refused with its reason, none changes state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support.lobby import LobbyProcess, Server, add_server, join, new_player, redeem, run_cli

JOIN_TYPE = "playlink-join+jwt"
REQUIRED_CLAIMS = ("iss", "sub", "name", "aud", "srv", "iat", "nbf", "exp", "jti")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def compact(header: dict, claims: dict, signature: bytes) -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"



def es256(header: dict, claims: dict, key: ec.EllipticCurvePrivateKey) -> str:
    """A compact JWS signed by hand, so that any header or claim value can be sent."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@dataclass(frozen=True)
class Genuine:
    """A join token the lobby issued for a reservation, and what a forger needs to imitate it."""

    server: Server
    token: str
    header: dict
    claims: dict
    key: ec.EllipticCurvePrivateKey

    def sign(
        self, claims: dict | None = None, key: ec.EllipticCurvePrivateKey | None = None, **header: object
    ) -> str:
        """The given claims (default: the genuine ones) signed with the lobby's own key."""
        headers = {"alg": "ES256", "kid": self.header["kid"], "typ": JOIN_TYPE, **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        return es256(headers, self.claims if claims is None else claims, key or self.key)

    def with_claims(self, **changes: object) -> str:
        """The genuine claims changed, signed with the lobby's key."""
        return self.sign({**self.claims, **changes})

    def without(self, claim: str) -> str:
        """The genuine claims minus one, signed with the lobby's key."""
        return self.sign({k: v for k, v in self.claims.items() if k != claim})


def private_key(data_dir: Path, kid: str) -> ec.EllipticCurvePrivateKey:
    keys = data_dir / "keys"
    path = next(p for p in keys.iterdir() if p.name in (f"{kid}.pem", f"{kid}.pem.retired"))
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


@pytest.fixture(scope="module")
def client(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="module")
def player(client):
    return new_player(client)


def make_genuine(client: httpx.Client, data_dir: Path, player) -> Genuine:
    server = add_server(client, capacity=4)
    token = join(client, player, server)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return Genuine(server, token, header, claims, private_key(data_dir, header["kid"]))


@pytest.fixture
def genuine(client, player, lobby) -> Genuine:
    return make_genuine(client, lobby.data_dir, player)


def state_of(client: httpx.Client, server: Server) -> tuple:
    game = client.get(f"/v1/games/{server.id}").json()
    return game["players"], game["reserved"], game["members"]



def assert_refused_without_change(
    client: httpx.Client, genuine: Genuine, hostile: str, reason: str, status: int = 401
) -> None:
    before = state_of(client, genuine.server)
    assert before[:2] == (0, 1)
    r = redeem(client, genuine.server, hostile)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["reason"] == reason, problem
    assert problem["status"] == status
    assert state_of(client, genuine.server) == before
    ok = redeem(client, genuine.server, genuine.token)
    assert ok.status_code == 200, ok.text
    assert ok.json()["player"]["id"] == genuine.claims["sub"]


def flip_signature_byte(g: Genuine) -> str:
    head, body, sig = g.token.split(".")
    raw = bytearray(unb64url(sig))
    raw[10] ^= 0x01
    return f"{head}.{body}.{b64url(bytes(raw))}"


def alg_none(g: Genuine) -> str:
    return compact({**g.header, "alg": "none"}, g.claims, b"")


def alg_none_keeping_the_signature(g: Genuine) -> str:
    _head, body, sig = g.token.split(".")
    return f"{b64url(json.dumps({**g.header, 'alg': 'none'}).encode())}.{body}.{sig}"


def hs256_with_public_key_as_secret(g: Genuine) -> str:
    pem = g.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {**g.header, "alg": "HS256"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(g.claims).encode())}"
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def foreign_key_with_lobby_kid(g: Genuine) -> str:
    return g.sign(key=ec.generate_private_key(ec.SECP256R1()))


def expired(g: Genuine) -> str:
    now = int(time.time())
    return g.with_claims(iat=now - 900, nbf=now - 900, exp=now - 600)


def not_yet_valid(g: Genuine) -> str:
    now = int(time.time())
    return g.with_claims(nbf=now + 600, exp=now + 900)


def never_issued(g: Genuine) -> str:
    return g.with_claims(jti=secrets.token_urlsafe(16))


def issued_jti_with_another_name(g: Genuine) -> str:
    return g.with_claims(name="Mallory")


HOSTILE: dict[str, tuple[Callable[[Genuine], str], str]] = {
    "bad_signature": (flip_signature_byte, "bad_signature"),
    "foreign_key_with_lobby_kid": (foreign_key_with_lobby_kid, "bad_signature"),
    "alg_none_unsecured_jwt": (alg_none, "bad_signature"),
    "alg_none_keeping_the_signature": (alg_none_keeping_the_signature, "bad_signature"),
    "hs256_with_public_key_pem": (hs256_with_public_key_as_secret, "bad_signature"),
    "wrong_typ": (lambda g: g.sign(typ="JWT"), "wrong_type"),
    "missing_typ": (lambda g: g.sign(typ=None), "wrong_type"),
    "missing_alg": (lambda g: g.sign(alg=None), "bad_signature"),
    "missing_kid": (lambda g: g.sign(kid=None), "unknown_key"),
    "unknown_kid": (lambda g: g.sign(kid="no-such-key"), "unknown_key"),
    "non_string_kid": (lambda g: g.sign(kid=7), "unknown_key"),
    "expired": (expired, "expired"),
    "not_yet_valid": (not_yet_valid, "not_yet_valid"),
    "wrong_issuer": (lambda g: g.with_claims(iss="http://evil.example"), "wrong_issuer"),
    "never_issued": (never_issued, "unknown_token"),
    "issued_jti_with_altered_claims": (issued_jti_with_another_name, "unknown_token"),
    "over_long_but_well_shaped": (lambda g: g.with_claims(name="x" * 5000), "malformed"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_token_is_refused_with_its_reason_and_changes_nothing(client, genuine, case):
    craft, reason = HOSTILE[case]
    assert_refused_without_change(client, genuine, craft(genuine), reason)


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_token_missing_a_required_claim_is_malformed(client, genuine, claim):
    assert_refused_without_change(client, genuine, genuine.without(claim), "malformed")


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", 12345), ("name", ["Mallory"]), ("srv", {"host": "x"}), ("jti", 7), ("iss", None),
     ("exp", "later"), ("nbf", "now"), ("iat", [1]), ("sub", ""), ("jti", ""),
     ("exp", 1e400), ("name", ""), ("exp", "9999999999"), ("iat", True), ("nbf", 1.5)],
)
def test_token_with_a_mistyped_claim_is_malformed(client, genuine, claim, value):
    hostile = genuine.with_claims(**{claim: value})
    assert_refused_without_change(client, genuine, hostile, "malformed")


def test_audience_as_a_list_is_refused_even_when_it_names_this_server(client, genuine):
    hostile = genuine.with_claims(aud=[genuine.server.id])
    assert_refused_without_change(client, genuine, hostile, "wrong_audience", status=403)


def test_token_naming_another_server_is_wrong_audience(client, genuine):
    other = add_server(client)
    hostile = genuine.with_claims(aud=other.id)
    assert_refused_without_change(client, genuine, hostile, "wrong_audience", status=403)


@pytest.mark.parametrize(
    "garbage",
    ["x", "a.b.c", "...", "eyJ.eyJ.sig", "null", "'; DROP TABLE reservations; --", "ünïcødé.tökén.✓",
     "a" * 4000, "Bearer x.y.z", "a.b.c.d.e", " \t\n", "\x00\x01"],
)
def test_garbage_is_malformed(client, genuine, garbage):
    assert_refused_without_change(client, genuine, garbage, "malformed")


def test_a_100_kb_token_is_refused_as_too_large(client, genuine):
    hostile = genuine.token + "A" * 100_000
    assert_refused_without_change(client, genuine, hostile, "validation_error", status=413)


def test_token_of_a_retired_key_is_unknown_key_and_changes_nothing(start_lobby):
    lobby = start_lobby()
    with httpx.Client(base_url=lobby.url, timeout=10) as c:
        player = new_player(c)
        old_server = add_server(c)
        old_token = join(c, player, old_server)
        old_kid = jwt.get_unverified_header(old_token)["kid"]
        rotated = run_cli(lobby.data_dir, "keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        g = make_genuine(c, lobby.data_dir, player)
        assert g.header["kid"] == rotated.stdout.strip() != old_kid
        retired = run_cli(lobby.data_dir, "keys", "retire", old_kid)
        assert retired.returncode == 0, retired.stderr

        before = state_of(c, old_server)
        r = redeem(c, old_server, old_token)
        assert (r.status_code, r.json()["reason"]) == (401, "unknown_key")
        assert state_of(c, old_server) == before

        forged = g.sign(key=private_key(lobby.data_dir, old_kid), kid=old_kid)
        assert_refused_without_change(c, g, forged, "unknown_key")
