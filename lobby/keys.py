"""The lobby's ES256 signing keys: files in a keys directory, created, rotated, retired, published."""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from lobby.private_files import private_directory

KEY_SUFFIX = ".pem"
RETIRED_SUFFIX = ".retired"
LOCK_NAME = ".lock"
KID_TIME_FORMAT = "%Y%m%dT%H%M%S.%f"


class KeyRingError(Exception):
    """A key operation that cannot be done (unknown kid, retiring the only key)."""


@dataclass(frozen=True)
class SigningKey:
    """One key pair: its id, private key (None once retired) and public key."""

    kid: str
    private: ec.EllipticCurvePrivateKey
    retired: bool

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        """The public half."""
        return self.private.public_key()

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK with `kid`, `alg` and `use`."""
        jwk = json.loads(ECAlgorithm.to_jwk(self.public))
        return {**jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}


def _new_kid(newest: str | None) -> str:
    """A key id that sorts after `newest` (the current key is the active one that sorts last).

    The id starts with the UTC time to the microsecond; when the clock is at or before the newest
    key's time (same microsecond, or the clock stepped back), one microsecond after that time.
    """
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    if newest is not None:
        try:
            last = datetime.datetime.strptime(newest.partition("-")[0], KID_TIME_FORMAT)
        except ValueError:
            last = None
        if last is not None and now <= last:
            now = last + datetime.timedelta(microseconds=1)
    return f"{now.strftime(KID_TIME_FORMAT)}-{secrets.token_hex(4)}"


class KeyRing:
    """The keys in one directory, reloaded when the directory changes (other instances rotate)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._directory_str = str(directory)
        self._mtime_ns = -1
        self._keys: dict[str, SigningKey] = {}
        self._current: SigningKey | None = None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        private_directory(self.directory)
        fd = os.open(self.directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _has_active_key(self) -> bool:
        return self.directory.is_dir() and any(self.directory.glob("*" + KEY_SUFFIX))

    def ensure(self) -> None:
        """Create the directory and a first key if there is none, then load.

        A directory that already holds a key is only read, so it may be read-only (a Secret volume).
        """
        if not self._has_active_key():
            with self._locked():
                if not self._has_active_key():
                    self._write_new_key()
        self.reload()

    def _write_new_key(self) -> str:
        on_disk = [p.name.partition(KEY_SUFFIX)[0] for p in self.directory.glob("*" + KEY_SUFFIX + "*")]
        kid = _new_kid(max(on_disk, default=None))
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = self.directory / f".{kid}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / (kid + KEY_SUFFIX))
        return kid

    def reload(self) -> None:
        """Read every key file of the directory."""
        mtime = self.directory.stat().st_mtime_ns
        keys: dict[str, SigningKey] = {}
        for path in sorted(self.directory.iterdir()):
            if path.name.endswith(KEY_SUFFIX):
                kid, retired = path.name.removesuffix(KEY_SUFFIX), False
            elif path.name.endswith(KEY_SUFFIX + RETIRED_SUFFIX):
                kid, retired = path.name.removesuffix(KEY_SUFFIX + RETIRED_SUFFIX), True
            else:
                continue
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(private, ec.EllipticCurvePrivateKey):
                continue
            keys[kid] = SigningKey(kid, private, retired)
        active = sorted(k for k, v in keys.items() if not v.retired)
        self._keys = keys
        self._current = keys[active[-1]] if active else None
        self._mtime_ns = mtime

    def refresh(self) -> None:
        """Reload when another process changed the directory since the last load."""
        try:
            if os.stat(self._directory_str).st_mtime_ns != self._mtime_ns:
                self.reload()
        except OSError:
            return

    @property
    def current(self) -> SigningKey:
        """The key new tokens are signed with."""
        if self._current is None:
            raise KeyRingError("no active signing key")
        return self._current

    @property
    def loaded(self) -> bool:
        """Whether a signing key is loaded."""
        return self._current is not None

    def get(self, kid: str) -> SigningKey | None:
        """The key named `kid`, retired or not, or None."""
        return self._keys.get(kid)

    def all(self) -> list[SigningKey]:
        """Every key, oldest first."""
        return [self._keys[k] for k in sorted(self._keys)]

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The JWK set of every key not retired."""
        return {"keys": [k.jwk() for k in self.all() if not k.retired]}

    def rotate(self) -> str:
        """Create a new current key; older keys keep verifying until retired."""
        with self._locked():
            kid = self._write_new_key()
        self.reload()
        return kid

    def retire(self, kid: str) -> None:
        """Stop publishing `kid` and refuse its tokens; the current key cannot be retired."""
        with self._locked():
            self.reload()
            key = self._keys.get(kid)
            if key is None:
                raise KeyRingError(f"no key {kid}")
            if key.retired:
                return
            if self._current is not None and self._current.kid == kid:
                raise KeyRingError(f"{kid} is the current key: rotate first")
            src = self.directory / (kid + KEY_SUFFIX)
            os.replace(src, self.directory / (kid + KEY_SUFFIX + RETIRED_SUFFIX))
        self.reload()
