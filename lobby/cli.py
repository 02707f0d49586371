"""The `lobby` command: serve, manage signing keys, register game servers."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from lobby.keys import KeyRing, KeyRingError
from lobby.schemas import NewServer
from lobby.settings import Settings, SettingsError, load_settings_with


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lobby", description="The Playlink lobby.")
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument(
        "--env-file", type=Path, help="LOBBY_NAME=value lines over the environment, as `lobby serve` reads"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the lobby: uvicorn workers under a supervisor (SIGHUP reloads, SIGTERM drains)"
    )
    serve.add_argument("--host", help="address to listen on (LOBBY_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (LOBBY_PORT)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.add_argument(
        "--env-file", type=Path, help="LOBBY_NAME=value lines over the environment, re-read on SIGHUP"
    )
    keys = commands.add_parser("keys", help="signing keys").add_subparsers(
        dest="action", required=True
    )
    keys.add_parser("list", parents=[settings], help="list keys, newest last")
    keys.add_parser("rotate", parents=[settings], help="create a new current key")
    retire = keys.add_parser("retire", parents=[settings], help="retire a key: its tokens stop verifying")
    retire.add_argument("kid")
    servers = commands.add_parser("servers", help="game servers").add_subparsers(
        dest="action", required=True
    )
    add = servers.add_parser(
        "add", parents=[settings], help="register a game server, print its id and secret once"
    )
    add.add_argument("name")
    add.add_argument("address", help="host:port players connect to")
    add.add_argument("capacity", type=int)
    servers.add_parser("list", parents=[settings], help="list game servers")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from lobby.supervisor import serve

    overrides = {}
    if args.host:
        overrides["LOBBY_HOST"] = args.host
    if args.port is not None:
        overrides["LOBBY_PORT"] = str(args.port)
    if args.workers < 1:
        raise SettingsError("invalid --workers: must be at least 1")
    return serve(args.workers, args.env_file, overrides)


def _keys(args: argparse.Namespace, settings: Settings) -> int:
    ring = KeyRing(settings.keys_path)
    if args.action == "rotate":
        _tell(f"keys directory {ring.directory}")
        print(ring.rotate())
    elif args.action == "retire":
        _tell(f"keys directory {ring.directory}")
        ring.retire(args.kid)
        print(f"retired {args.kid}")
    else:
        ring.ensure()
        current = ring.current.kid
        for key in ring.all():
            state = "retired" if key.retired else "current" if key.kid == current else "active"
            print(f"{key.kid}\t{state}")
    return 0


def _tell(message: str) -> None:
    """Say on stderr where a command that writes is writing (stdout stays the command's output)."""
    print(f"lobby: {message}", file=sys.stderr)


def redacted(url: str) -> str:
    """`url` with the password, if any, replaced by `***`."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***@"
    return urlunsplit(parts._replace(netloc=userinfo + parts.netloc.rpartition("@")[2]))


async def _servers(args: argparse.Namespace, settings: Settings) -> int:
    from lobby.routes.servers import add_server
    from lobby.state import Lobby
    from lobby.store import store_from_url

    store = store_from_url(settings.store_url)
    await store.open()
    try:
        lobby = Lobby(settings, store, KeyRing(settings.keys_path))
        if args.action == "add":
            _tell(f"store {redacted(settings.store_url)}")
            body = NewServer(name=args.name, address=args.address, capacity=args.capacity)
            server, secret = await add_server(lobby, body.name, body.address, body.capacity)
            print(f"id: {server.id}\nsecret: {secret}")
            return 0
        now = lobby.now()
        for s in await store.list_servers(now):
            status = s.status(now, settings.heartbeat_timeout_s)
            print(f"{s.id}\t{s.name}\t{s.address}\t{s.players + s.reserved}/{s.capacity}\t{status}")
        return 0
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `lobby` command; returns its exit status."""
    from pydantic import ValidationError

    from lobby.errors import LobbyError

    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        settings = load_settings_with(args.env_file)
        if args.command == "keys":
            return _keys(args, settings)
        return asyncio.run(_servers(args, settings))
    except (SettingsError, KeyRingError, LobbyError) as exc:
        print(f"lobby: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"lobby: invalid {first['loc'][0]}: {first['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
