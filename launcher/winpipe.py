"""Windows IPC: both ends of the per-user named pipe, with overall deadlines (runs only on Windows).

- Name `\\\\.\\pipe\\playlink-<user SID>-<scheme>`: per user, so two users never meet on one pipe.
- The server passes an explicit, protected DACL giving only the owner access (SDDL
  `D:P(A;;GA;;;<SID>)`; the default pipe DACL lets Everyone read), creates its first instance with
  `FILE_FLAG_FIRST_PIPE_INSTANCE` and every instance with `PIPE_REJECT_REMOTE_CLIENTS`.
- Both ends check that the process at the other end runs as this user (the pipe's client or server
  process id, then that process's token): a pipe squatted by another user is refused.
- Every read, write and connect is overlapped and bounded by one deadline per exchange, so a peer
  that trickles bytes cannot extend it.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import time

from launcher import winapi as w
from launcher.errors import ClientUnavailable, EndpointError, MessageRefused, NotListening

MAX_MESSAGE_BYTES = 16 * 1024
MAX_INSTANCES = 8
BUSY_RETRY_S = 0.02
CLOSE_WAIT_S = 1.0
_CHUNK_BYTES = 4096


class Stopped(Exception):
    """The server was asked to stop while it waited."""


def pipe_name(scheme: str, sid: str | None = None) -> str:
    """Return the per-user pipe name of `scheme`."""
    return f"\\\\.\\pipe\\playlink-{sid or current_user_sid()}-{scheme}"


@functools.lru_cache(maxsize=1)
def current_user_sid() -> str:
    """Return the string SID of the user running this process, read from its token (once)."""
    return w.process_user_sid()


def owner_only_sddl(sid: str) -> str:
    """Return the SDDL of a protected DACL granting only `sid` access."""
    if not sid.startswith("S-1-") or not all(part.isdigit() for part in sid[4:].split("-")):
        raise EndpointError(f"not a user SID: {sid!r}")
    return f"D:P(A;;GA;;;{sid})"


class PipeIo:
    """One pipe handle with overlapped I/O, each operation bounded by a deadline (monotonic time)."""

    def __init__(self, handle: int, stop_event: int | None = None) -> None:
        self.handle = handle
        self.stop_event = stop_event
        self.event = w.CreateEventW(None, True, False, None)
        if not self.event:
            raise w.last_error()

    def close(self) -> None:
        """Close the pipe handle and the event."""
        w.CloseHandle(self.handle)
        w.CloseHandle(self.event)

    def connect(self, deadline: float | None) -> None:
        """Wait for a client to connect to this server instance."""
        overlapped = self._overlapped()
        if not w.ConnectNamedPipe(self.handle, ctypes.byref(overlapped)):
            error = ctypes.get_last_error()  # type: ignore[attr-defined]
            if error == w.ERROR_PIPE_CONNECTED:
                return
            if error != w.ERROR_IO_PENDING:
                raise ctypes.WinError(error)  # type: ignore[attr-defined]
        self._finish(overlapped, deadline)

    def read_line(self, deadline: float) -> bytes:
        """Read up to and including the first newline; at most `MAX_MESSAGE_BYTES`."""
        data = b""
        while b"\n" not in data:
            chunk = self.read(min(_CHUNK_BYTES, MAX_MESSAGE_BYTES + 1 - len(data)), deadline)
            if not chunk:
                raise MessageRefused("the message ended before its newline")
            data += chunk
            if len(data) > MAX_MESSAGE_BYTES and b"\n" not in data[:MAX_MESSAGE_BYTES]:
                raise MessageRefused("the message is larger than 16 KiB", "too_large")
        return data[: data.index(b"\n") + 1]

    def read(self, size: int, deadline: float | None) -> bytes:
        """Read at most `size` bytes; b"" at the end of the stream."""
        buffer = ctypes.create_string_buffer(size)
        overlapped = self._overlapped()
        if not w.ReadFile(self.handle, buffer, size, None, ctypes.byref(overlapped)):
            error = ctypes.get_last_error()  # type: ignore[attr-defined]
            if error in (w.ERROR_BROKEN_PIPE, w.ERROR_PIPE_NOT_CONNECTED):
                return b""
            if error != w.ERROR_IO_PENDING:
                raise ctypes.WinError(error)  # type: ignore[attr-defined]
        try:
            count = self._finish(overlapped, deadline)
        except OSError as exc:
            if exc.winerror in (w.ERROR_BROKEN_PIPE, w.ERROR_PIPE_NOT_CONNECTED):  # type: ignore[attr-defined]
                return b""
            raise
        return buffer.raw[:count]

    def write(self, data: bytes, deadline: float) -> None:
        """Write all of `data`."""
        while data:
            overlapped = self._overlapped()
            buffer = ctypes.create_string_buffer(data, len(data))
            if not w.WriteFile(self.handle, buffer, len(data), None, ctypes.byref(overlapped)):
                error = ctypes.get_last_error()  # type: ignore[attr-defined]
                if error != w.ERROR_IO_PENDING:
                    raise ctypes.WinError(error)  # type: ignore[attr-defined]
            data = data[self._finish(overlapped, deadline) :]

    def wait_for_close(self, deadline: float) -> None:
        """Wait (until `deadline`) for the peer to close its end, so it can read all we wrote."""
        try:
            while self.read(_CHUNK_BYTES, deadline):
                pass
        except (OSError, TimeoutError, Stopped):
            pass

    def peer_sid(self, server_side: bool) -> str:
        """Return the SID of the user running the process at the other end of the pipe."""
        pid = w.wintypes.ULONG()
        query = w.GetNamedPipeClientProcessId if server_side else w.GetNamedPipeServerProcessId
        w.check(query(self.handle, ctypes.byref(pid)))
        return w.pid_user_sid(pid.value)

    def _overlapped(self) -> w.Overlapped:
        """Return a fresh OVERLAPPED using this pipe's (reset) event."""
        overlapped = w.Overlapped()
        overlapped.hEvent = self.event
        return overlapped

    def _finish(self, overlapped: w.Overlapped, deadline: float | None) -> int:
        """Wait for an overlapped operation until `deadline`; cancel it on time-out or stop."""
        handles = [self.event] + ([self.stop_event] if self.stop_event else [])
        array = (w.HANDLE * len(handles))(*handles)
        remaining = w.INFINITE if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        status = w.WaitForMultipleObjects(len(handles), array, False, remaining)
        count = w.DWORD(0)
        if status != w.WAIT_OBJECT_0:
            w.CancelIoEx(self.handle, ctypes.byref(overlapped))
            w.GetOverlappedResult(self.handle, ctypes.byref(overlapped), ctypes.byref(count), True)
            if status == w.WAIT_OBJECT_0 + 1:
                raise Stopped
            raise TimeoutError("the pipe operation did not finish in time")
        w.check(w.GetOverlappedResult(self.handle, ctypes.byref(overlapped), ctypes.byref(count), False))
        return count.value


def exchange(name: str, line: bytes, timeout_s: float) -> bytes:
    """Send one line to the pipe server and return its one-line reply (the launcher's side)."""
    deadline = time.monotonic() + timeout_s
    pipe = PipeIo(_open_client(name, deadline))
    try:
        try:
            sid = pipe.peer_sid(server_side=False)
        except OSError:
            sid = None
        if sid != current_user_sid():
            raise EndpointError("the game client's pipe belongs to another user; refusing it", "forbidden")
        pipe.write(line, deadline)
        reply = pipe.read_line(deadline)
    except TimeoutError:
        raise ClientUnavailable("the game client did not answer in time") from None
    except MessageRefused as exc:
        if exc.reason == "too_large":
            raise MessageRefused("the game client's reply is larger than 16 KiB", "too_large") from None
        raise ClientUnavailable("the game client closed the connection without answering") from None
    except OSError as exc:
        raise ClientUnavailable(f"the connection to the game client failed: {exc.strerror}") from None
    finally:
        pipe.close()
    return reply


def _open_client(name: str, deadline: float) -> int:
    """Open the client end of the pipe, retrying while every instance is busy, until `deadline`."""
    access = w.GENERIC_READ | w.GENERIC_WRITE
    flags = w.FILE_FLAG_OVERLAPPED | w.SECURITY_SQOS_PRESENT | w.SECURITY_IDENTIFICATION
    while True:
        handle = w.CreateFileW(name, access, 0, None, w.OPEN_EXISTING, flags, None)
        if handle and handle != w.INVALID_HANDLE:
            return int(handle)
        error = ctypes.get_last_error()  # type: ignore[attr-defined]
        if error == w.ERROR_FILE_NOT_FOUND:
            raise NotListening("no game client is listening")
        if error != w.ERROR_PIPE_BUSY:
            raise ClientUnavailable(f"cannot open the game client's pipe (error {error})")
        if time.monotonic() + BUSY_RETRY_S > deadline:
            raise ClientUnavailable("the game client's pipe stayed busy")
        time.sleep(BUSY_RETRY_S)


class PipeServer:
    """Serves one pipe name in a thread: each connection's line goes to `serve`, its reply goes back."""

    def __init__(self, name: str, sid: str, serve: object, read_timeout_s: float) -> None:
        self.name = name
        self.sid = sid
        self.serve = serve
        self.read_timeout_s = read_timeout_s
        self._stop = w.CreateEventW(None, True, False, None)
        self._thread: threading.Thread | None = None
        self._attributes, self._descriptor = w.security_attributes(owner_only_sddl(sid))
        self._next: int | None = self._create(first=True)

    def start(self) -> None:
        """Start serving in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"pipe {self.name}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving, close the pipe instances, and wait for the thread."""
        w.SetEvent(self._stop)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._next is not None:
            w.CloseHandle(self._next)
            self._next = None
        if self._descriptor:
            w.LocalFree(self._descriptor)
            self._descriptor = None
        w.CloseHandle(self._stop)

    def listening_handle(self) -> int | None:
        """Return the handle of the instance waiting for the next client (to read its DACL back)."""
        return self._next

    def _create(self, first: bool) -> int:
        """Create one pipe instance: owner-only, local clients only; the first must be the first."""
        flags = w.PIPE_ACCESS_DUPLEX | w.FILE_FLAG_OVERLAPPED
        if first:
            flags |= w.FILE_FLAG_FIRST_PIPE_INSTANCE
        mode = w.PIPE_TYPE_BYTE | w.PIPE_READMODE_BYTE | w.PIPE_WAIT | w.PIPE_REJECT_REMOTE_CLIENTS
        handle = w.CreateNamedPipeW(
            self.name, flags, mode, MAX_INSTANCES, MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES, 0,
            ctypes.byref(self._attributes),
        )  # fmt: skip
        if not handle or handle == w.INVALID_HANDLE:
            error = ctypes.get_last_error()  # type: ignore[attr-defined]
            if error in (w.ERROR_ACCESS_DENIED, w.ERROR_PIPE_BUSY):
                raise EndpointError(f"another client already listens on {self.name}", "conflict")
            raise EndpointError(f"cannot create the pipe {self.name} (error {error})")
        return int(handle)

    def _run(self) -> None:
        """Accept connections one after another until stopped."""
        while self._next is not None:
            pipe = PipeIo(self._next, self._stop)
            try:
                pipe.connect(None)
                self._next = self._create(first=False)
            except Stopped:
                w.CloseHandle(pipe.event)
                return
            except (OSError, EndpointError):
                pipe.close()
                self._next = None
                return
            try:
                self._serve_one(pipe)
            finally:
                pipe.close()

    def _serve_one(self, pipe: PipeIo) -> None:
        """Check the peer, read one bounded line within the deadline, reply once."""
        deadline = time.monotonic() + self.read_timeout_s
        try:
            if pipe.peer_sid(server_side=True) != self.sid:
                return
        except OSError:
            return
        try:
            line: bytes | MessageRefused = pipe.read_line(deadline)
        except MessageRefused as exc:
            line = exc
        except TimeoutError:
            line = MessageRefused("no complete message in time", "timeout")
        except (OSError, Stopped):
            return
        reply = self.serve(line)  # type: ignore[operator]
        try:
            pipe.write(reply, time.monotonic() + self.read_timeout_s)
            pipe.wait_for_close(time.monotonic() + CLOSE_WAIT_S)
        except (OSError, TimeoutError, Stopped):
            pass
