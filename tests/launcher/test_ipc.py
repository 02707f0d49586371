"""The IPC endpoint is private, single-instance, bounded, and strict about what it accepts."""

from __future__ import annotations

import asyncio
import os
import socket
import stat

import pytest

from launcher import endpoint, ipc
from launcher.errors import ClientRefused, ClientUnavailable, EndpointError, MessageRefused, NotListening
from launcher.ipc import JoinListener, deliver
from launcher.urls import Join

from .conftest import LOBBY, SCHEME, TOKEN, World

JOIN = Join(LOBBY, TOKEN)


async def exchange(path: str, data: bytes) -> bytes:
    """Send raw bytes to the listener and return everything it answers."""
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(data)
    await writer.drain()
    try:
        return await reader.read()
    except ConnectionResetError:  # closed on us with our message unread
        return b""
    finally:
        writer.close()


async def test_a_join_delivered_by_the_launcher_comes_out_of_the_async_iterator(world: World) -> None:
    async with JoinListener(SCHEME) as joins:
        await asyncio.to_thread(deliver, SCHEME, JOIN)
        assert await anext(joins) == JOIN


async def test_the_endpoint_is_in_a_0700_directory_and_the_socket_is_0600(world: World) -> None:
    async with JoinListener(SCHEME) as listener:
        assert listener.path == str(world.runtime / "playlink" / f"{SCHEME}.sock")
        assert stat.S_IMODE(os.stat(world.runtime / "playlink").st_mode) == 0o700
        assert stat.S_IMODE(os.stat(listener.path).st_mode) == 0o600


async def test_without_xdg_runtime_dir_the_endpoint_is_in_the_users_cache_where_no_one_else_can_squat(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user creating `playlink-<uid>` in the shared temp dir first no longer blocks clicks."""
    import tempfile

    monkeypatch.delenv("XDG_RUNTIME_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("TMPDIR", str(world.root))
    monkeypatch.setattr(tempfile, "tempdir", None)
    squatted = world.root / f"playlink-{os.getuid()}"
    squatted.mkdir()
    squatted.chmod(0o777)
    assert endpoint.runtime_dir() == str(world.home / ".cache" / "playlink" / "run")
    async with JoinListener(SCHEME) as joins:
        await asyncio.to_thread(deliver, SCHEME, JOIN)
        assert await asyncio.wait_for(joins.__anext__(), 5) == JOIN
    assert stat.S_IMODE(os.stat(endpoint.runtime_dir()).st_mode) == 0o700


async def test_a_handler_exception_becomes_an_ok_false_reply(world: World) -> None:
    def refuse(join: Join) -> None:
        raise MessageRefused("this game is already in a match")

    async with JoinListener(SCHEME, refuse):
        with pytest.raises(ClientRefused, match="already in a match"):
            await asyncio.to_thread(deliver, SCHEME, JOIN)


async def test_deliver_says_not_listening_when_no_one_listens(world: World) -> None:
    with pytest.raises(NotListening):
        deliver(SCHEME, JOIN)


async def test_a_second_listener_for_the_same_scheme_is_refused(world: World) -> None:
    async with JoinListener(SCHEME):
        with pytest.raises(EndpointError) as caught:
            await JoinListener(SCHEME).start()
        assert caught.value.reason == "conflict"


async def test_a_stale_socket_from_a_crashed_client_is_cleaned_up(world: World) -> None:
    path = endpoint.socket_path(SCHEME)
    endpoint.ensure_private_dir(os.path.dirname(path))
    crashed = socket.socket(socket.AF_UNIX)
    crashed.bind(path)
    crashed.close()  # the file stays, nothing listens
    async with JoinListener(SCHEME, lambda join: None):
        await asyncio.to_thread(deliver, SCHEME, JOIN)


async def test_a_regular_file_at_the_socket_path_is_never_removed(world: World) -> None:
    path = endpoint.socket_path(SCHEME)
    endpoint.ensure_private_dir(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write("not a socket")
    with pytest.raises(EndpointError, match="not our socket"):
        await JoinListener(SCHEME).start()
    assert os.path.isfile(path)


async def test_a_runtime_dir_open_to_others_is_refused_by_both_sides(world: World) -> None:
    directory = world.runtime / "playlink"
    directory.mkdir(mode=0o700)
    directory.chmod(0o755)
    with pytest.raises(EndpointError, match="open to other users"):
        await JoinListener(SCHEME).start()
    with pytest.raises(EndpointError, match="open to other users"):
        deliver(SCHEME, JOIN)


async def test_a_runtime_dir_owned_by_someone_else_is_refused(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    (world.runtime / "playlink").mkdir(mode=0o700)
    monkeypatch.setattr(endpoint.os, "getuid", lambda: os.stat(world.runtime).st_uid + 1)
    with pytest.raises(EndpointError) as caught:
        await JoinListener(SCHEME).start()
    assert caught.value.reason == "forbidden"


async def test_a_symlinked_runtime_dir_is_refused(world: World) -> None:
    target = world.root / "elsewhere"
    target.mkdir(mode=0o700)
    (world.runtime / "playlink").symlink_to(target)
    with pytest.raises(EndpointError, match="not a directory"):
        await JoinListener(SCHEME).start()


async def test_a_peer_running_as_another_user_gets_no_reply_and_no_join_is_taken(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[Join] = []
    async with JoinListener(SCHEME, received.append) as listener:
        monkeypatch.setattr(endpoint.os, "getuid", lambda: os.geteuid() + 1)  # we now look foreign
        reply = await exchange(listener.path, ipc.encode_join(JOIN))  # type: ignore[arg-type]
    assert (reply, received) == (b"", [])


async def test_peer_uid_reads_the_real_credentials_of_the_other_end(world: World) -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        assert endpoint.peer_uid(left) == os.getuid()


async def test_a_message_over_16_kib_is_refused_and_nothing_is_taken(world: World) -> None:
    received: list[Join] = []
    async with JoinListener(SCHEME, received.append) as listener:
        big = ipc.encode_join(Join(LOBBY, f"a.b.{'c' * ipc.MAX_MESSAGE_BYTES}"))
        reply = await exchange(listener.path, big)  # type: ignore[arg-type]
    assert reply.startswith(b'{"ok": false')
    assert received == []


async def test_a_message_just_under_16_kib_is_taken(world: World) -> None:
    received: list[Join] = []
    async with JoinListener(SCHEME, received.append) as listener:
        token = f"a.b.{'c' * (ipc.MAX_MESSAGE_BYTES - 200)}"
        reply = await exchange(listener.path, ipc.encode_join(Join(LOBBY, token)))  # type: ignore[arg-type]
    assert reply == b'{"ok": true}\n'
    assert received == [Join(LOBBY, token)]


@pytest.mark.parametrize(
    "line",
    [
        b"not json\n",
        b'{"v": 1, "type": "join", "lobby": "https://lobby.example"}\n',
        b'{"v": 1, "type": "join", "lobby": "https://lobby.example", "token": "a.b.c", "x": 1}\n',
        b'{"v": true, "type": "join", "lobby": "https://lobby.example", "token": "a.b.c"}\n',
        b'{"v": 2, "type": "join", "lobby": "https://lobby.example", "token": "a.b.c"}\n',
        b'{"v": 1, "type": "leave", "lobby": "https://lobby.example", "token": "a.b.c"}\n',
        b'{"v": 1, "type": "join", "lobby": "file:///etc/passwd", "token": "a.b.c"}\n',
        b'{"v": 1, "type": "join", "lobby": "https://LOBBY.example/", "token": "a.b.c"}\n',
        b'{"v": 1, "type": "join", "lobby": "https://lobby.example", "token": "$(id)"}\n',
        b'{"v": 1, "type": "join", "type": "join", "lobby": "https://lobby.example", "token": "a.b.c"}\n',
        b'{"v": 1, "type": "join", "lobby": "https://lobby.example", "token": 5}\n',
        b'["v", 1]\n',
        b"\xff\xfe\n",
    ],
)
async def test_anything_but_the_exact_schema_is_refused(world: World, line: bytes) -> None:
    received: list[Join] = []
    async with JoinListener(SCHEME, received.append) as listener:
        reply = await exchange(listener.path, line)  # type: ignore[arg-type]
    assert reply.startswith(b'{"ok": false, "error": ')
    assert received == []


async def test_a_silent_peer_is_dropped_after_the_read_timeout(world: World) -> None:
    async with JoinListener(SCHEME, lambda join: None, read_timeout_s=0.1) as listener:
        reply = await asyncio.wait_for(exchange(listener.path, b'{"v": 1'), 5)  # type: ignore[arg-type]
    assert b"no complete message in time" in reply


async def test_closing_the_listener_removes_its_socket_and_ends_iteration(world: World) -> None:
    listener = JoinListener(SCHEME)
    await listener.start()
    await listener.close()
    assert not os.path.exists(listener.path)  # type: ignore[arg-type]
    assert [join async for join in listener] == []


class ScriptedClient:
    """A listener at the scheme's socket that answers every connection with `reply`, `drip_s` per byte."""

    def __init__(self, reply: bytes, drip_s: float = 0.0) -> None:
        self.reply = reply
        self.drip_s = drip_s
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> ScriptedClient:
        path = endpoint.socket_path(SCHEME)
        endpoint.ensure_private_dir(os.path.dirname(path))
        self.server = await asyncio.start_unix_server(self._answer, path)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n")
        for index in range(len(self.reply)):
            writer.write(self.reply[index : index + 1])
            await writer.drain()
            await asyncio.sleep(self.drip_s)
        writer.close()


async def test_a_client_dripping_its_reply_cannot_extend_the_launchers_deadline(world: World) -> None:
    reply = b'{"ok": true}\n'  # 13 bytes at 0.4 s each: 5 s, against a 1 s deadline
    async with ScriptedClient(reply, drip_s=0.4):
        started = asyncio.get_running_loop().time()
        with pytest.raises(ClientUnavailable, match="did not answer in time"):
            await asyncio.to_thread(deliver, SCHEME, JOIN, 1.0)
        assert asyncio.get_running_loop().time() - started < 3.0


async def test_a_deeply_nested_reply_is_refused_as_malformed_not_an_internal_error(world: World) -> None:
    async with ScriptedClient(b"[" * 1400 + b"\n"):
        with pytest.raises(MessageRefused) as caught:
            await asyncio.to_thread(deliver, SCHEME, JOIN)
    assert caught.value.reason == "malformed"


async def test_a_deeply_nested_join_message_gets_a_refusal_and_nothing_is_taken(world: World) -> None:
    received: list[Join] = []
    async with JoinListener(SCHEME, received.append) as listener:
        reply = await exchange(listener.path, b"[" * 1400 + b"\n")  # type: ignore[arg-type]
    assert reply.startswith(b'{"ok": false, "error": ')
    assert received == []
