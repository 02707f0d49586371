"""The arena game client: takes joins from the launcher, asks, verifies, connects, shows who is there.

    python -m examples.arena.client [--lobby URL] [--yes] [--log FILE]

It pins one lobby (`--lobby`, else `ARENA_LOBBY`, else http://127.0.0.1:8000): joins naming another
are refused, and the address it connects to comes only from the verified token. It acknowledges each
join to the lobby as soon as it has it (the web page then shows "received by the game"), asks
"Join <server> as <player>?" in its terminal (`--yes` or `ARENA_AUTO_ACCEPT=1` answers yes, for a
client the launcher starts without a terminal; a No declines the join, so the lobby frees the slot and
the page shows "declined"), and prints the players on the server as they change.
It imports only the client SDK, so it also runs as a script: `python examples/arena/client.py`.
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

from client_sdk import AsyncGameClient, IncomingJoin, PlaylinkError, VerifiedJoin

SCHEME = "arena"
DEFAULT_LOBBY = "http://127.0.0.1:8000"
LOBBY_ENV = "ARENA_LOBBY"
AUTO_ACCEPT_ENV = "ARENA_AUTO_ACCEPT"

log = logging.getLogger("arena.client")


async def confirm(join: IncomingJoin, auto_accept: bool) -> bool:
    """Ask the player whether to act on a join a web page started."""
    question = join.prompt()
    if auto_accept:
        log.info("%s yes (auto-accept)", question)
        return True
    if not sys.stdin or not sys.stdin.isatty():
        log.warning("%s no: there is no terminal to ask in (run with --yes to accept)", question)
        return False
    answer = await asyncio.to_thread(input, f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def acknowledge(client: AsyncGameClient, join: IncomingJoin) -> None:
    """Tell the lobby the game has this join; a lobby without acks, or a refusal, only gets logged."""
    try:
        if await client.ack(join):
            log.info("told the lobby the join arrived")
    except PlaylinkError as exc:
        log.warning("could not acknowledge the join (%s)", exc.reason)


async def decline(client: AsyncGameClient, join: IncomingJoin) -> None:
    """Tell the lobby the player said no; a lobby without declines, or a refusal, only gets logged."""
    try:
        if await client.decline(join):
            log.info("told the lobby the join was declined")
    except PlaylinkError as exc:
        log.warning("could not decline the join (%s)", exc.reason)


async def play(client: AsyncGameClient, join: VerifiedJoin) -> None:
    """Connect to the verified server and show its players until the connection ends."""
    try:
        connection = await client.connect(join)
    except PlaylinkError as exc:
        log.warning("the game server refused the join (%s)", exc.reason)
        return
    log.info("connected to %s as %s", join.claims.srv, connection.player.name)
    try:
        while line := await connection.reader.readline():
            with contextlib.suppress(ValueError):
                show(json.loads(line))
    except (OSError, ValueError):
        pass
    finally:
        await connection.aclose()
        log.info("disconnected from %s", join.claims.srv)


def show(message: object) -> None:
    """Print a server message: who is on the server."""
    if isinstance(message, dict) and message.get("type") == "players":
        names = [p.get("name", "?") for p in message.get("players", []) if isinstance(p, dict)]
        log.info("players on %s: %s", message.get("server", "?"), ", ".join(map(str, names)))


async def run(lobby: str, auto_accept: bool) -> None:
    """Listen for arena joins until cancelled; a new join replaces the current game."""
    current: asyncio.Task[None] | None = None
    async with AsyncGameClient(SCHEME, lobby) as client, client.listen() as joins:
        log.info("listening for %s joins from %s (pid %d)", SCHEME, client.lobby, os.getpid())
        try:
            async for join in joins:
                await acknowledge(client, join)
                if not await confirm(join, auto_accept):
                    await decline(client, join)
                    continue
                try:
                    verified = await client.verify(join)
                except PlaylinkError as exc:
                    log.warning("refused the join (%s)", exc.reason)
                    continue
                if current is not None:
                    current.cancel()
                current = asyncio.create_task(play(client, verified))
        finally:
            if current is not None:
                current.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await current


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m examples.arena.client", description=__doc__)
    parser.add_argument("--lobby", default=os.environ.get(LOBBY_ENV, DEFAULT_LOBBY), help="the pinned lobby")
    parser.add_argument("--yes", action="store_true", help=f"accept without asking ({AUTO_ACCEPT_ENV}=1)")
    parser.add_argument("--log", help="also append the client's messages to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the client until SIGINT or SIGTERM (Ctrl+C or the process ending on Windows)."""
    options = _parser().parse_args(argv)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)] if sys.stdout else []
    if options.log:
        handlers.append(logging.FileHandler(options.log))
    logging.basicConfig(level=logging.INFO, format="arena: %(message)s", handlers=handlers)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    auto_accept = options.yes or os.environ.get(AUTO_ACCEPT_ENV) == "1"

    async def main_task() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        if sys.platform != "win32":  # on Windows, Ctrl+C interrupts asyncio.run by itself
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, task.cancel)  # type: ignore[union-attr]
        with contextlib.suppress(asyncio.CancelledError):
            await run(options.lobby, auto_accept)

    try:
        asyncio.run(main_task())
    except (PlaylinkError, ValueError) as exc:
        print(f"arena: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
