"""An arena game server: admits players by their join token, tells everyone who is here, reports leaves.

    ARENA_SERVER_SECRET=... python -m examples.arena.server --lobby URL --server-id ID --listen HOST:PORT
    LOBBY_ADMIN_TOKEN=...   python -m examples.arena.server --lobby URL --name "Arena" --listen HOST:PORT

With `--server-id` it runs as that registered server (its secret from `ARENA_SERVER_SECRET`, never
from the command line, where other local users can read it); without, it registers itself with the
operator's admin token and deregisters when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from client_sdk import AsyncGameServer, Player, PlaylinkError, split_address

SECRET_ENV = "ARENA_SERVER_SECRET"  # noqa: S105 - the variable's name, not a secret
ADMIN_TOKEN_ENV = "LOBBY_ADMIN_TOKEN"  # noqa: S105 - the variable's name
CAPACITY = 8
MAX_LINE_BYTES = 4096
LEAVES_TIMEOUT_S = 5.0  # how long stopping waits for the leaves of connected players to be reported

log = logging.getLogger("arena.server")


def _player(player: Player) -> dict[str, str]:
    return {"id": player.id, "name": player.name}


class Arena:
    """The game: the connected players of one server and what they are told."""

    def __init__(self, name: str) -> None:
        self.game: AsyncGameServer | None = None
        self.name = name
        self.connections: dict[str, tuple[Player, asyncio.StreamWriter]] = {}
        self._handlers: set[asyncio.Task[object]] = set()

    def player_count(self) -> int:
        """How many players are connected (the heartbeat's count)."""
        return len(self.connections)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: the handshake, then the player stays until the connection ends."""
        assert self.game is not None
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        handler.add_done_callback(self._handlers.discard)
        try:
            admission = await self.game.accept(reader, writer)
        except PlaylinkError as exc:
            log.info("refused a join (%s)", exc.reason)
            return
        player = admission.player
        previous = self.connections.pop(player.id, None)
        if previous is not None:
            previous[1].close()
        self.connections[player.id] = (player, writer)
        log.info("%s joined (%d here)", player.name, len(self.connections))
        await self.broadcast()
        try:
            while await reader.readline():
                pass
        except (OSError, ValueError):
            pass
        finally:
            await self.leave(player, writer)

    async def leave(self, player: Player, writer: asyncio.StreamWriter) -> None:
        """A connection ended: forget the player, free the slot at the lobby, tell the others."""
        writer.close()
        if self.connections.get(player.id, (None, None))[1] is not writer:
            return
        del self.connections[player.id]
        log.info("%s left (%d here)", player.name, len(self.connections))
        try:
            assert self.game is not None
            await self.game.leave(player.id)
        except PlaylinkError as exc:
            log.warning("could not report %s's leave (%s)", player.name, exc.reason)
        await self.broadcast()

    async def close(self) -> None:
        """Stopping: end every connection and wait (a while) until each player's leave is reported."""
        for _player, writer in list(self.connections.values()):
            writer.close()
        handlers = set(self._handlers)
        if not handlers:
            return
        _done, late = await asyncio.wait(handlers, timeout=LEAVES_TIMEOUT_S)
        for handler in late:
            handler.cancel()
        if late:
            await asyncio.wait(late)

    async def broadcast(self) -> None:
        """Tell every connected player who is here."""
        players = [_player(p) for p, _ in self.connections.values()]
        for player, writer in list(self.connections.values()):
            line = {"type": "players", "server": self.name, "you": _player(player), "players": players}
            with contextlib.suppress(OSError):
                writer.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
                await writer.drain()


async def serve(options: argparse.Namespace) -> None:
    """Run one arena server until cancelled."""
    host, port = split_address(options.listen)
    arena = Arena(options.name)
    common = {"heartbeat_interval_s": options.heartbeat_interval, "player_count": arena.player_count}
    if options.server_id:
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            raise SystemExit(f"arena server: set {SECRET_ENV} to the server's secret")
        game = AsyncGameServer(
            options.lobby,
            options.server_id,
            secret,
            deregister_on_close=options.deregister_on_exit,
            **common,
        )
    else:
        admin = os.environ.get(ADMIN_TOKEN_ENV, "")
        if not admin:
            raise SystemExit(f"arena server: pass --server-id, or set {ADMIN_TOKEN_ENV} to register")
        game = await AsyncGameServer.register(
            options.lobby,
            admin_token=admin,
            name=options.name,
            address=options.listen,
            capacity=options.capacity,
            **common,
        )
    arena.game = game
    listener = await asyncio.start_server(arena.handle, host, port, limit=MAX_LINE_BYTES)
    async with game:  # closed last: the leaves below still reach the lobby through it
        try:
            log.info("arena server %s (%s) listening on %s", options.name, game.id, options.listen)
            if options.ready_fd is not None:
                os.write(options.ready_fd, b"ready\n")
                os.close(options.ready_fd)
            await listener.serve_forever()
        finally:
            listener.close()  # no new players
            await arena.close()  # the connected ones leave, and the lobby hears it


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.arena.server", description=__doc__)
    parser.add_argument("--lobby", required=True, help="the lobby's base URL")
    parser.add_argument("--listen", required=True, help="host:port to listen on and to register")
    parser.add_argument("--name", default="Arena", help="the server's name")
    parser.add_argument("--capacity", type=int, default=CAPACITY, help="players (when registering)")
    parser.add_argument("--server-id", help=f"run as this registered server (secret in {SECRET_ENV})")
    parser.add_argument("--deregister-on-exit", action="store_true", help="remove the server when stopping")
    parser.add_argument("--ready-fd", type=int, help="write 'ready' to this file descriptor once listening")
    parser.add_argument("--heartbeat-interval", type=float, default=10.0, help="seconds between heartbeats")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the arena server until SIGINT or SIGTERM."""
    options = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def run() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)  # type: ignore[union-attr]
        with contextlib.suppress(asyncio.CancelledError):
            await serve(options)

    try:
        asyncio.run(run())
    except PlaylinkError as exc:
        print(f"arena server: {exc} [{exc.reason}]", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
