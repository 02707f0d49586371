"""Fixtures of the SDK tests: a private player desktop for the launcher, game servers on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from client_sdk import Admission, AsyncGameServer, PlaylinkError
from tests.support.lobby import ROOT, Server

SCHEME = "arena"


@dataclass
class Desktop:
    """A player's private desktop: XDG config and runtime dirs, and the real `launcher` command."""

    env: dict[str, str]

    def install(self, *lobbies: str) -> None:
        """Configure the launcher for SCHEME, trusting `lobbies` (the client is already listening)."""
        from launcher import config

        command = [sys.executable, "-c", "raise SystemExit('the client was already listening')"]
        config.save(config.Config(SCHEME, list(lobbies), command, 5.0, 5.0))

    async def open(self, url: str) -> tuple[int, str]:
        """Run `python -m launcher open -- URL` as the OS would; its exit code and stderr."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "launcher",
            "open",
            "--",
            url,
            env=self.env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode is not None
        return process.returncode, err.decode()


@pytest.fixture
def desktop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Desktop:
    """A private desktop, also applied to this process (where the SDK's listener runs)."""
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name, value in env.items():
        if name != "PATH":
            monkeypatch.setenv(name, value)
    return Desktop(env)


@dataclass
class GameHost:
    """A game server built on the SDK, accepting the reference handshake on its registered port."""

    sdk: AsyncGameServer
    admitted: list[Admission] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    connections: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: the handshake, then a goodbye line and close."""
        self.connections += 1
        try:
            admission = await self.sdk.accept(reader, writer)
        except PlaylinkError as exc:
            self.refused.append(exc.reason)
            return
        self.admitted.append(admission)
        writer.write(b"welcome\n")
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()


@contextlib.asynccontextmanager
async def game_host(lobby_url: str, server: Server, **options: object) -> AsyncIterator[GameHost]:
    """Run `server` (registered at `lobby_url`) as an SDK game server listening on its address."""
    host, _, port = server.address.rpartition(":")
    async with AsyncGameServer(lobby_url, server.id, server.secret, **options) as sdk:  # type: ignore[arg-type]
        game = GameHost(sdk)
        listener = await asyncio.start_server(game.handle, host, int(port))
        try:
            yield game
        finally:
            listener.close()
            await listener.wait_closed()


@dataclass
class CountingListener:
    """A TCP port that only counts the connections made to it (proof that none were)."""

    address: str
    connections: int = 0


@pytest.fixture
async def counting_listener() -> AsyncIterator[CountingListener]:
    """A loopback listener counting connections; it never answers."""
    counter = CountingListener("")

    async def count(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counter.connections += 1
        writer.close()

    server = await asyncio.start_server(count, "127.0.0.1", 0)
    counter.address = f"127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield counter
    server.close()
    await server.wait_closed()


def private_keys(data_dir: Path) -> dict[str, object]:
    """The private signing keys of a lobby started by a test, by kid (to forge tokens with them)."""
    from cryptography.hazmat.primitives import serialization

    return {
        path.name.removesuffix(".pem"): serialization.load_pem_private_key(path.read_bytes(), None)
        for path in (data_dir / "keys").glob("*.pem")
    }
