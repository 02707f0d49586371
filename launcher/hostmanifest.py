"""The native messaging host manifest that tells a browser where `launcher native-host` is, and for whom.

One manifest per scheme and browser, `<host name>.json`, naming the host (`io.playlink.<scheme>`),
an absolute `path` to a wrapper the install writes (browsers allow no arguments there), and the one
extension allowed to start it: Chromium-family browsers by `allowed_origins`
(`chrome-extension://<id>/`). The `description` carries the launcher's marker, which is what
uninstall looks for before deleting a file. The per-OS modules in `launcher.platforms` choose the
folders (and, on Windows, the registry keys pointing at them); the files are written here.
"""

from __future__ import annotations

import os

from launcher.errors import ConfigError, PlatformError

HOST_PREFIX = "io.playlink."
EXTENSION_ID_CHARS = 32
_ID_ALPHABET = frozenset("abcdefghijklmnop")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def host_name(scheme: str) -> str:
    """Return the native host name of `scheme`: its letters and digits, any other character as `_xx`."""
    escaped = "".join(char if char in _HOST_CHARS else f"_{ord(char):02x}" for char in scheme)
    return HOST_PREFIX + escaped


def extension_id(public_key_der: bytes) -> str:
    """Return the Chromium extension id of a public key: SHA-256 of its DER, first 32 hex digits as a-p."""
    import hashlib

    digest = hashlib.sha256(public_key_der).hexdigest()[:EXTENSION_ID_CHARS]
    return "".join(chr(ord("a") + int(digit, 16)) for digit in digest)


def check_extension_id(value: str) -> str:
    """Return `value` if it is a Chromium extension id (32 letters a-p), else refuse it."""
    if len(value) != EXTENSION_ID_CHARS or not set(value) <= _ID_ALPHABET:
        raise ConfigError(f"{value[:64]!r} is not a browser extension id (32 letters a-p)")
    return value


def description(scheme: str) -> str:
    """Return the manifest's description, which ends with the launcher's marker."""
    from launcher.platforms import MARKER

    return f"Playlink launcher for {scheme}:// joins ({MARKER})"


def chromium_manifest(scheme: str, wrapper: str, extension_ids: list[str]) -> str:
    """Return the host manifest text for Chromium-family browsers."""
    import json

    if not os.path.isabs(wrapper):
        raise PlatformError("a native host manifest needs an absolute path")
    manifest = {
        "name": host_name(scheme),
        "description": description(scheme),
        "path": wrapper,
        "type": "stdio",
        "allowed_origins": [f"chrome-extension://{check_extension_id(i)}/" for i in extension_ids],
    }
    return json.dumps(manifest, indent=2) + "\n"


def manifest_path(directory: str, scheme: str) -> str:
    """Return the path of `scheme`'s manifest in a browser's host folder."""
    return os.path.join(directory, f"{host_name(scheme)}.json")


def is_ours(path: str, scheme: str) -> bool:
    """Tell whether the manifest at `path` is a regular file carrying our marker for `scheme`."""
    import json

    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.loads(handle.read(64 * 1024))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("description") == description(scheme)


def write_all(directories: list[str], scheme: str, wrapper: str, extension_ids: list[str]) -> list[str]:
    """Write `scheme`'s manifest into every folder, refusing to overwrite a file that is not ours."""
    text = chromium_manifest(scheme, wrapper, extension_ids)
    check_free(directories, scheme)
    paths = [manifest_path(directory, scheme) for directory in directories]
    for path in paths:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    return paths


def check_free(directories: list[str], scheme: str) -> None:
    """Refuse when a manifest of `scheme` in one of `directories` exists and is not ours."""
    for path in [manifest_path(directory, scheme) for directory in directories]:
        if os.path.lexists(path) and not is_ours(path, scheme):
            raise PlatformError(f"{path} exists and is not ours; refusing to overwrite it")


def remove_all(directories: list[str], scheme: str) -> bool:
    """Delete our manifest of `scheme` from every folder; return whether any was deleted."""
    removed = False
    for directory in directories:
        path = manifest_path(directory, scheme)
        if os.path.isfile(path) and not os.path.islink(path) and is_ours(path, scheme):
            os.unlink(path)
            removed = True
    return removed


def found(directories: list[str], scheme: str) -> list[str]:
    """Return the paths of our manifests of `scheme` that exist."""
    paths = [manifest_path(directory, scheme) for directory in directories]
    return [path for path in paths if is_ours(path, scheme)]
