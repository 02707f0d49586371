"""Parses launch URLs, `<scheme>://join?v=1&lobby=<percent-encoded URL>&token=<JWT>`, and nothing else.

Everything here is hostile input from a web page. The parser accepts exactly the DESIGN.md shape and
raises `URLRefused` for anything else; no message ever repeats the token. It imports nothing, so that
`launcher open` stays fast.
"""

from __future__ import annotations

from launcher.errors import URLRefused

MAX_URL_CHARS = 8 * 1024
MAX_LOBBY_CHARS = 2048
MAX_SCHEME_CHARS = 64
ACTION = "join"
PROTOCOL_VERSION = "1"
PARAMETERS = ("v", "lobby", "token")
REDACTED = "[redacted]"

_LOWER = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"
_HEX = frozenset(_DIGITS + "abcdefABCDEF")
_B64URL = frozenset(_LOWER + _LOWER.upper() + _DIGITS + "-_")
_SCHEME_CHARS = frozenset(_LOWER + _DIGITS + "+-.")
_HOST_CHARS = frozenset(_LOWER + _DIGITS + "-.")
_PATH_CHARS = frozenset(_LOWER + _LOWER.upper() + _DIGITS + "-._~/")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Join:
    """One join: the lobby it comes from and the token; `repr` never shows the token."""

    __slots__ = ("lobby", "token")

    def __init__(self, lobby: str, token: str) -> None:
        self.lobby = lobby
        self.token = token

    def __repr__(self) -> str:
        return f"Join(lobby={self.lobby!r}, token={REDACTED!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Join) and (other.lobby, other.token) == (self.lobby, self.token)

    def __hash__(self) -> int:
        return hash((self.lobby, self.token))


def check_scheme(scheme: str) -> str:
    """Return `scheme` if it is a lowercase RFC 3986 scheme of sane length, else refuse it."""
    if not scheme or len(scheme) > MAX_SCHEME_CHARS:
        raise URLRefused("the URL scheme is empty or too long")
    if not scheme.isascii() or scheme.lower() != scheme:
        raise URLRefused("the URL scheme must be lowercase ASCII")
    if scheme[0] not in _LOWER or not set(scheme) <= _SCHEME_CHARS:
        raise URLRefused("the URL scheme has characters a scheme cannot have")
    return scheme


def scheme_of(url: str) -> str:
    """Return the (checked) scheme of a launch URL, refusing over-long or non-printable input."""
    if len(url) > MAX_URL_CHARS:
        raise URLRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise URLRefused("the URL contains spaces, control or non-ASCII characters")
    scheme, sep, _rest = url.partition("://")
    if not sep:
        raise URLRefused("the URL is not of the form <scheme>://join?...")
    return check_scheme(scheme)


def parse_launch_url(url: str, scheme: str, trusted_lobbies: list[str]) -> Join:
    """Parse a launch URL of `scheme` whose lobby is one of `trusted_lobbies` (normalized)."""
    if scheme_of(url) != scheme:
        raise URLRefused(f"this launcher handles only {scheme}:// URLs")
    rest = url[len(scheme) + 3 :]
    if "#" in rest:
        raise URLRefused("the URL must not have a fragment")
    action, sep, query = rest.partition("?")
    _check_action(action)
    if not sep or not query:
        raise URLRefused("the URL has no parameters")
    params = _parse_query(query)
    if params["v"] != PROTOCOL_VERSION:
        raise URLRefused(f"unsupported launch URL version (this launcher speaks v={PROTOCOL_VERSION})")
    check_token(params["token"])
    lobby = normalize_lobby(params["lobby"])
    if lobby not in trusted_lobbies:
        raise URLRefused(f"the lobby {lobby} is not in the trusted list", "untrusted_lobby")
    return Join(lobby, params["token"])


def check_token(token: str) -> str:
    """Return `token` if it is three non-empty base64url segments joined by dots, else refuse it."""
    parts = token.split(".")
    if len(parts) != 3 or not all(part and set(part) <= _B64URL for part in parts):
        raise URLRefused("the token is not a JWT (three base64url segments)")
    return token


def normalize_lobby(lobby: str) -> str:
    """Return the canonical `scheme://host[:port][/path]` of a lobby base URL, or refuse it."""
    if not lobby or len(lobby) > MAX_LOBBY_CHARS or not lobby.isascii() or not lobby.isprintable():
        raise URLRefused("the lobby must be a printable ASCII URL of sane length")
    scheme, sep, rest = lobby.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        raise URLRefused("the lobby must be an http:// or https:// URL")
    authority, slash, path = rest.partition("/")
    if any(char in rest for char in "?#@\\"):
        raise URLRefused("the lobby URL must not have a query, a fragment, user info or backslashes")
    host, port = _split_port(authority.lower(), _DEFAULT_PORTS[scheme])
    _check_host(host)
    path = _check_path(path) if slash else ""
    return f"{scheme}://{host}{port}{path}"


def redact(text: str) -> str:
    """Replace any `token=` value and anything JWT-shaped in `text` with a placeholder."""
    head, sep, tail = text.partition("token=")
    while sep:
        end = 0
        while end < len(tail) and (tail[end] in _B64URL or tail[end] in ".%"):
            end += 1
        rest, sep, tail = tail[end:].partition("token=")
        head = f"{head}token={REDACTED}{rest}"
    out: list[str] = []
    word: list[str] = []
    for char in head + " ":
        if char in _B64URL or char == ".":
            word.append(char)
            continue
        out.append(_redact_word("".join(word)))
        word.clear()
        out.append(char)
    return "".join(out)[:-1]


def _redact_word(word: str) -> str:
    """Redact one run of base64url characters and dots if it looks like a JWT."""
    parts = word.split(".")
    if len(parts) >= 3 and sum(1 for part in parts if part) >= 3:
        return REDACTED
    return word


def _check_action(action: str) -> None:
    """Refuse anything in the authority position other than the bare action `join`."""
    if action == ACTION:
        return
    if "@" in action:
        raise URLRefused("the URL must not carry user info")
    if ":" in action:
        raise URLRefused("the URL must not carry a port")
    if "/" in action:
        raise URLRefused("the URL must be <scheme>://join?..., with no path")
    raise URLRefused(f"unknown action (the only action is {ACTION!r})")


def _parse_query(query: str) -> dict[str, str]:
    """Split `v`, `lobby` and `token`, each exactly once and non-empty, decoding each value once."""
    params: dict[str, str] = {}
    for field in query.split("&"):
        name, sep, raw = field.partition("=")
        if name not in PARAMETERS:
            shown = f" {name!r}" if name.isalnum() and len(name) <= 16 else ""
            raise URLRefused(f"unknown or malformed parameter{shown}")
        if name in params:
            raise URLRefused(f"the parameter {name!r} appears more than once")
        if not sep or not raw:
            raise URLRefused(f"the parameter {name!r} is empty")
        params[name] = _percent_decode(raw, name)
    missing = [name for name in PARAMETERS if name not in params]
    if missing:
        raise URLRefused(f"missing parameter(s): {', '.join(missing)}")
    return params


def _percent_decode(raw: str, name: str) -> str:
    """Decode `%XX` escapes exactly once; refuse bad escapes and anything decoding to non-printable."""
    if "%" not in raw:
        return raw
    pieces = raw.split("%")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if len(piece) < 2 or piece[0] not in _HEX or piece[1] not in _HEX:
            raise URLRefused(f"bad percent-encoding in {name!r}")
        code = int(piece[:2], 16)
        if code <= 0x20 or code >= 0x7F:
            raise URLRefused(f"{name!r} decodes to a space, control or non-ASCII character")
        out.append(chr(code) + piece[2:])
    return "".join(out)


def _split_port(authority: str, default_port: int) -> tuple[str, str]:
    """Split `host[:port]` and return the host and `:port` (empty for the scheme's default)."""
    if authority.startswith("["):
        end = authority.find("]")
        host, after = authority[: end + 1], authority[end + 1 :]
        if end < 0 or (after and not after.startswith(":")):
            raise URLRefused("the lobby's IPv6 address is malformed")
        port_text = after[1:] if after else None
    else:
        host, sep, port_text = authority.partition(":")
        port_text = port_text if sep else None
    if port_text is None:
        return host, ""
    if not port_text.isdigit() or not port_text.isascii() or len(port_text) > 5:
        raise URLRefused("the lobby's port is not a number")
    port = int(port_text)
    if not 0 < port < 65536:
        raise URLRefused("the lobby's port is out of range")
    return host, "" if port == default_port else f":{port}"


def _check_host(host: str) -> None:
    """Refuse a host that is not a DNS name, an IPv4 address or a bracketed IPv6 address."""
    if host.startswith("["):
        inner = host[1:-1]
        if not inner or not set(inner) <= _HEX | {":", "."} or inner.count(":") < 2:
            raise URLRefused("the lobby's IPv6 address is malformed")
        return
    labels = host.split(".")
    if not host or len(host) > 253 or not set(host) <= _HOST_CHARS:
        raise URLRefused("the lobby's host name is malformed")
    for label in labels:
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            raise URLRefused("the lobby's host name is malformed")


def _check_path(path: str) -> str:
    """Return `/path` without a trailing slash; refuse empty, dot or encoded segments."""
    path = path.rstrip("/") if path.endswith("/") else path
    if not path:
        return ""
    if not set(path) <= _PATH_CHARS:
        raise URLRefused("the lobby's path may contain only unreserved characters and '/'")
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        raise URLRefused("the lobby's path has empty or dot segments")
    return "/" + path
