"""Writes a game's browser extension (Manifest V3, unpacked) that hands joins to `launcher native-host`.

    launcher extension SCHEME --out DIR [--key PEM] [--lobby URL ...]

The extension asks for `nativeMessaging` only, and injects its content script only into the top
frame of the trusted lobby origins (the scheme's config, or `--lobby`); it has no host permissions.
Its `key` (the public half of an RSA key) fixes its id, which `launcher install --extension-id`
writes into the host manifest. The key is the publisher's own (`--key`), or one generated once and
kept beside the scheme's config (`<scheme>.extension-key.pem`, mode 0600). This is a publisher's
tool, off the click's path, so it may use the `cryptography` package.
"""

from __future__ import annotations

import base64
import json
import os

from launcher import config, hostmanifest
from launcher.errors import ConfigError, URLRefused
from launcher.nativehost import origin_of
from launcher.urls import MAX_URL_CHARS, check_scheme, normalize_lobby

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "webextension")
SCRIPTS = ("background.js", "content.js")
FILES = ("manifest.json", *SCRIPTS)
PLACEHOLDER = "/*PLAYLINK_SETTINGS*/ "
KEY_BITS = 2048
EXTENSION_VERSION = "1.0"


def build(scheme: str, out: str, key_path: str | None = None, lobbies: list[str] | None = None) -> str:
    """Write the unpacked extension for `scheme` into `out` and return its extension id."""
    try:
        check_scheme(scheme)
    except URLRefused as exc:
        raise ConfigError(f"invalid scheme: {exc}") from None
    trusted = _lobbies(lobbies) if lobbies else config.load(scheme).trusted_lobbies
    origins = sorted({origin_of(lobby) for lobby in trusted})
    public_der = public_key_der(key_path or kept_key_path(scheme), create=key_path is None)
    _check_out(out)
    os.makedirs(out, exist_ok=True)
    host = hostmanifest.host_name(scheme)
    settings = {
        "background.js": {"host": host, "origins": origins, "maxUrlChars": MAX_URL_CHARS},
        "content.js": {"scheme": scheme, "origins": origins},
    }
    for name in SCRIPTS:
        with open(os.path.join(TEMPLATES, name), encoding="utf-8") as handle:
            source = handle.read()
        if source.count(PLACEHOLDER) != 1:
            raise ConfigError(f"the template {name} has no single settings placeholder")
        text = source.replace(PLACEHOLDER, json.dumps(settings[name]) + "; // ")
        _write(os.path.join(out, name), text)
    _write(os.path.join(out, "manifest.json"), json.dumps(manifest(scheme, origins, public_der), indent=2))
    return hostmanifest.extension_id(public_der)


def manifest(scheme: str, origins: list[str], public_der: bytes) -> dict[str, object]:
    """Return the extension's manifest: nativeMessaging, a top-frame content script on `origins`, a key."""
    return {
        "manifest_version": 3,
        "name": f"Playlink launcher for {scheme}",
        "version": EXTENSION_VERSION,
        "description": f"Opens {scheme} games from their lobby's Join button, with no dialog.",
        "key": base64.b64encode(public_der).decode("ascii"),
        "permissions": ["nativeMessaging"],
        "background": {"service_worker": "background.js"},
        "content_scripts": [
            {
                "matches": [f"{origin}/*" for origin in origins],
                "js": ["content.js"],
                "run_at": "document_start",
                "all_frames": False,
            }
        ],
    }


def kept_key_path(scheme: str) -> str:
    """Return where the generated key of `scheme`'s extension is kept."""
    return os.path.join(config.config_dir(), f"{scheme}.extension-key.pem")


def public_key_der(path: str, create: bool) -> bytes:
    """Return the DER SubjectPublicKeyInfo of the RSA key in `path`, generating it first if `create`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if create and not os.path.exists(path):
        _generate(path)
    try:
        with open(path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(64 * 1024), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read an unencrypted PEM private key from {path}: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"{path} is not an RSA key, which browsers need for an extension key")
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _generate(path: str) -> None:
    """Generate an RSA key into `path` (mode 0600, never overwriting)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)


def _lobbies(lobbies: list[str]) -> list[str]:
    """Return the given lobby URLs normalized, or refuse them."""
    try:
        return [normalize_lobby(lobby) for lobby in lobbies]
    except URLRefused as exc:
        raise ConfigError(f"invalid --lobby: {exc}") from None


def _check_out(out: str) -> None:
    """Refuse an output folder holding anything but an extension this command wrote."""
    if os.path.lexists(out) and not os.path.isdir(out):
        raise ConfigError(f"{out} exists and is not a folder")
    if os.path.isdir(out) and not set(os.listdir(out)) <= set(FILES):
        raise ConfigError(f"{out} holds other files; choose a new or empty folder")


def _write(path: str, text: str) -> None:
    """Write one file of the extension atomically."""
    temp = f"{path}.{os.getpid()}.tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    os.replace(temp, path)
