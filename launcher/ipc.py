"""Both sides of the launcher-to-client IPC: `deliver()` for the launcher, `JoinListener` for clients.

One message each way, newline-delimited UTF-8 JSON, at most 16 KiB:
`{"v": 1, "type": "join", "lobby": "...", "token": "..."}` then `{"ok": true}` or
`{"ok": false, "error": "..."}`. The endpoint is user-private (see `launcher.endpoint`; on Windows a
named pipe, see `launcher.winpipe`). The listening side treats every byte as hostile: it checks the
peer's uid, reads at most 16 KiB within a timeout, and accepts only the exact schema.

    async with JoinListener("arena") as joins:       # or JoinListener("arena", handler=callback)
        async for join in joins:
            connect(join.lobby, join.token)
"""

from __future__ import annotations

import os
import sys

from launcher import endpoint, fastjson
from launcher.errors import (
    ClientRefused,
    ClientUnavailable,
    EndpointError,
    LauncherError,
    MessageRefused,
    NotListening,
    URLRefused,
)
from launcher.urls import Join, check_token, normalize_lobby

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable

    from launcher import winpipe

    JoinHandler = Callable[[Join], Awaitable[None] | None]

__all__ = ["MAX_MESSAGE_BYTES", "Join", "JoinListener", "deliver"]

MAX_MESSAGE_BYTES = 16 * 1024
IPC_VERSION = 1
READ_TIMEOUT_S = 5.0
DELIVER_TIMEOUT_S = 5.0
PROBE_TIMEOUT_S = 0.5
QUEUE_SIZE = 16
_MESSAGE_KEYS = frozenset({"v", "type", "lobby", "token"})
_OK = b'{"ok": true}\n'


def encode_join(join: Join) -> bytes:
    """Encode a join message (one line)."""
    lobby, token = fastjson.dumps_str(join.lobby), fastjson.dumps_str(join.token)
    return f'{{"v": {IPC_VERSION}, "type": "join", "lobby": {lobby}, "token": {token}}}\n'.encode()


def decode_join(line: bytes) -> Join:
    """Decode a join message strictly: size, UTF-8, exact keys and types, lobby and token shapes."""
    message = _decode_line(line)
    if not isinstance(message, dict) or set(message) != _MESSAGE_KEYS:
        raise MessageRefused("a join message has exactly the keys v, type, lobby and token")
    version, kind = message["v"], message["type"]
    if type(version) is not int or version != IPC_VERSION or kind != "join":
        raise MessageRefused(f"only version {IPC_VERSION} join messages are understood")
    lobby, token = message["lobby"], message["token"]
    if not isinstance(lobby, str) or not isinstance(token, str):
        raise MessageRefused("lobby and token must be strings")
    try:
        check_token(token)
        if normalize_lobby(lobby) != lobby:
            raise MessageRefused("the lobby must be given in its normalized form")
    except URLRefused as exc:
        raise MessageRefused(str(exc)) from None
    return Join(lobby, token)


def encode_reply(error: str | None = None) -> bytes:
    """Encode the reply: `{"ok": true}`, or `{"ok": false, "error": ...}` when `error` is given."""
    if error is None:
        return _OK
    return f'{{"ok": false, "error": {fastjson.dumps_str(error[:1000])}}}\n'.encode()


def decode_reply(line: bytes) -> None:
    """Return if the reply says ok; raise `ClientRefused` with its error, or `MessageRefused`."""
    if line == _OK:
        return
    reply = _decode_line(line)
    if isinstance(reply, dict) and reply.get("ok") is True and set(reply) == {"ok"}:
        return
    if isinstance(reply, dict) and reply.get("ok") is False and set(reply) == {"ok", "error"}:
        error = reply["error"]
        if isinstance(error, str):
            shown = "".join(char if char.isprintable() else "?" for char in error[:200])
            raise ClientRefused(f"the game client refused the join: {shown}")
    raise MessageRefused("the game client's reply is not of the agreed schema")


def deliver(
    scheme: str, join: Join, timeout_s: float = DELIVER_TIMEOUT_S, path: str | None = None
) -> None:
    """Hand `join` to the client listening for `scheme`; `NotListening` if none is."""
    line = encode_join(join)
    if sys.platform == "win32":
        from launcher import winpipe

        reply = winpipe.exchange(path or winpipe.pipe_name(scheme), line, timeout_s)
    else:
        reply = _exchange_unix(path or endpoint.socket_path(scheme), line, timeout_s)
    decode_reply(reply)


def _exchange_unix(path: str, line: bytes, timeout_s: float) -> bytes:
    """Send one line over the Unix socket at `path` and return the one line that comes back.

    `timeout_s` is one deadline for the whole exchange: a client trickling its reply cannot extend it.
    """
    import _socket
    import time

    deadline = time.monotonic() + timeout_s
    try:
        endpoint.check_private_dir(os.path.dirname(path))
    except FileNotFoundError:
        raise NotListening("no game client is listening (no runtime directory)") from None
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout_s)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotListening("no game client is listening") from None
        except TimeoutError:
            raise ClientUnavailable("the game client did not accept the connection in time") from None
        endpoint.check_peer(sock)
        try:
            _settimeout_until(sock, deadline)
            sock.sendall(line)
            return _read_line(sock, deadline)
        except TimeoutError:
            raise ClientUnavailable("the game client did not answer in time") from None
        except OSError as exc:
            message = f"the connection to the game client failed: {exc.strerror}"
            raise ClientUnavailable(message) from None
    finally:
        sock.close()


def _settimeout_until(sock: object, deadline: float) -> None:
    """Give `sock`'s next operation only the time left until `deadline`; raise if none is left."""
    import time

    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    sock.settimeout(left)  # type: ignore[attr-defined]


def _read_line(sock: object, deadline: float) -> bytes:
    """Read one newline-terminated message of at most `MAX_MESSAGE_BYTES` before `deadline`."""
    data = b""
    while not data.endswith(b"\n"):
        _settimeout_until(sock, deadline)
        chunk = sock.recv(MAX_MESSAGE_BYTES + 1 - len(data))  # type: ignore[attr-defined]
        if not chunk:
            raise ClientUnavailable("the game client closed the connection without answering")
        data += chunk
        if len(data) > MAX_MESSAGE_BYTES:
            raise MessageRefused("the game client's reply is larger than 16 KiB", "too_large")
    return data


def _decode_line(line: bytes) -> object:
    """Decode one message line to JSON, refusing oversize, bad UTF-8, and embedded newlines."""
    if len(line) > MAX_MESSAGE_BYTES:
        raise MessageRefused("the message is larger than 16 KiB", "too_large")
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise MessageRefused("a message is exactly one newline-terminated line")
    try:
        return fastjson.loads(line[:-1].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise MessageRefused("the message is not UTF-8 JSON") from None


class JoinListener:
    """Listens on `scheme`'s endpoint; hands each valid join to `handler`, or yields it (`async for`)."""

    def __init__(
        self,
        scheme: str,
        handler: JoinHandler | None = None,
        *,
        path: str | None = None,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.scheme = scheme
        self.handler = handler
        self.path = path
        self.read_timeout_s = read_timeout_s
        self._server: asyncio.AbstractServer | None = None
        self._queue: asyncio.Queue[Join | None] | None = None
        self._lock: endpoint.FileLock | None = None
        self._inode: int | None = None
        self._closed = False
        self._pipe: winpipe.PipeServer | None = None
        self._stopped: asyncio.Event | None = None

    async def start(self) -> None:
        """Take the single-instance lock, clean a stale socket safely, and start listening."""
        import asyncio

        directory = endpoint.ensure_private_dir(
            os.path.dirname(self.path) if self.path and sys.platform != "win32" else endpoint.runtime_dir()
        )
        self._lock = endpoint.FileLock(os.path.join(directory, f"{self.scheme}.listen.lock"))
        if not self._lock.acquire():
            self._lock = None
            raise EndpointError(f"another client already listens for {self.scheme}://", "conflict")
        try:
            self._queue = asyncio.Queue(QUEUE_SIZE + 1)
            self._stopped = asyncio.Event()
            if sys.platform == "win32":
                self._start_pipe(asyncio.get_running_loop())
                return
            self.path = path = self.path or endpoint.socket_path(self.scheme)
            _remove_stale_socket(path)
            self._server = await asyncio.start_unix_server(self._serve, path, limit=MAX_MESSAGE_BYTES)
            os.chmod(path, 0o600)
            self._inode = os.lstat(path).st_ino
        except BaseException:
            await self.close()
            raise

    def _start_pipe(self, loop: asyncio.AbstractEventLoop) -> None:
        """Serve the per-user named pipe in a thread that hands each line to this loop."""
        import asyncio

        from launcher import winpipe

        def serve_line(line: bytes | LauncherError) -> bytes:
            if isinstance(line, LauncherError):
                return encode_reply(str(line))
            future = asyncio.run_coroutine_threadsafe(self._answer(line), loop)
            try:
                return future.result(self.read_timeout_s)
            except Exception:
                future.cancel()
                return encode_reply("the game client could not take the join")

        sid = winpipe.current_user_sid()
        self.path = self.path or winpipe.pipe_name(self.scheme, sid)
        self._pipe = winpipe.PipeServer(self.path, sid, serve_line, self.read_timeout_s)
        self._pipe.start()

    def pipe_handle(self) -> int | None:
        """Return the listening pipe instance's handle on Windows (to read its security back)."""
        return self._pipe.listening_handle() if self._pipe is not None else None

    async def close(self) -> None:
        """Stop listening, remove our socket file (only ours), release the lock, end iteration."""
        import asyncio

        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._pipe is not None:
            await asyncio.to_thread(self._pipe.close)
            self._pipe = None
        if self._inode is not None and self.path is not None:
            try:
                if os.lstat(self.path).st_ino == self._inode:
                    os.unlink(self.path)
            except FileNotFoundError:
                pass
            self._inode = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        if self._queue is not None and not self._closed:
            self._queue.put_nowait(None)
        self._closed = True
        if self._stopped is not None:
            self._stopped.set()

    async def serve_forever(self) -> None:
        """Serve until cancelled (for use with a handler)."""
        if self._server is None and self._pipe is None:
            await self.start()
        if self._server is not None:
            await self._server.serve_forever()
        elif self._stopped is not None:
            await self._stopped.wait()

    async def __aenter__(self) -> JoinListener:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __aiter__(self) -> JoinListener:
        return self

    async def __anext__(self) -> Join:
        if self._queue is None:
            raise StopAsyncIteration
        join = await self._queue.get()
        if join is None:
            raise StopAsyncIteration
        return join

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Handle one connection: check the peer, read one bounded line, reply once, close."""
        import asyncio

        try:
            endpoint.check_peer(writer.get_extra_info("socket"))
        except EndpointError:
            writer.close()
            return
        try:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), self.read_timeout_s)
            except asyncio.LimitOverrunError:
                raise MessageRefused("the message is larger than 16 KiB", "too_large") from None
            except asyncio.IncompleteReadError:
                raise MessageRefused("the message ended before its newline") from None
            except TimeoutError:
                raise MessageRefused("no complete message in time", "timeout") from None
            writer.write(await self._answer(line))
        except LauncherError as exc:
            writer.write(encode_reply(str(exc)))
        try:
            await asyncio.wait_for(writer.drain(), self.read_timeout_s)
        except (OSError, TimeoutError):
            pass
        finally:
            writer.close()

    async def _answer(self, line: bytes) -> bytes:
        """Decode one join line, give it to the handler or the queue, and return the reply."""
        try:
            await self._take(decode_join(line))
        except LauncherError as exc:
            return encode_reply(str(exc))
        except Exception:
            return encode_reply("the game client could not take the join")
        return encode_reply()

    async def _take(self, join: Join) -> None:
        """Give `join` to the handler, or queue it for `async for`."""
        if self.handler is not None:
            result = self.handler(join)
            if result is not None:
                await result
            return
        assert self._queue is not None
        if self._queue.qsize() >= QUEUE_SIZE:
            raise ClientUnavailable("the game client is busy with earlier joins")
        self._queue.put_nowait(join)


def _remove_stale_socket(path: str) -> None:
    """Remove `path` only if it is our own socket and nothing answers on it."""
    import socket

    try:
        if not endpoint.is_our_socket(path):
            raise EndpointError(f"{path} exists and is not our socket; refusing to replace it")
    except FileNotFoundError:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT_S)
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            os.unlink(path)
            return
        except FileNotFoundError:
            return
    raise EndpointError(f"another client already listens on {path}", "conflict")
