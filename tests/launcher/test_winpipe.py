"""Windows named pipe design; only the Windows API boundary (`WinApi`) and the file opener are faked."""

from __future__ import annotations

import io

import pytest

from launcher import winpipe
from launcher.errors import ClientUnavailable, EndpointError, NotListening

SID = "S-1-5-21-1004336348-1177238915-682003330-1001"


class FakeApi:
    """Records what the pipe server would ask Windows for."""

    def __init__(self, handle: int = 7, error: int = 0) -> None:
        self.handle, self.error, self.calls = handle, error, []

    def security_descriptor(self, sddl: str) -> object:
        self.calls.append(("sddl", sddl))
        return "descriptor"

    def create_named_pipe(self, *args: object) -> int:
        self.calls.append(("create", *args))
        return self.handle

    def last_error(self) -> int:
        return self.error


def test_the_pipe_name_is_per_user_and_per_scheme() -> None:
    assert winpipe.pipe_name("arena", SID) == f"\\\\.\\pipe\\playlink-{SID}-arena"


def test_the_dacl_is_protected_and_grants_only_the_owner() -> None:
    assert winpipe.owner_only_sddl(SID) == f"D:P(A;;GA;;;{SID})"


@pytest.mark.parametrize("sid", ["WD", "S-1-1-0)(A;;GA;;;WD", "Everyone"])
def test_anything_but_a_plain_sid_is_refused_in_the_dacl(sid: str) -> None:
    with pytest.raises(EndpointError):
        winpipe.owner_only_sddl(sid)


def test_the_server_pipe_is_first_instance_only_local_only_and_owner_only() -> None:
    api = FakeApi()
    assert winpipe.create_server_pipe("\\\\.\\pipe\\x", SID, api) == 7  # type: ignore[arg-type]
    (_, sddl), (_, _name, open_mode, pipe_mode, instances, size, descriptor) = api.calls
    assert sddl == f"D:P(A;;GA;;;{SID})"
    assert open_mode & winpipe.FILE_FLAG_FIRST_PIPE_INSTANCE
    assert pipe_mode & winpipe.PIPE_REJECT_REMOTE_CLIENTS
    assert (instances, size, descriptor) == (1, 16 * 1024, "descriptor")


def test_a_second_server_for_the_same_pipe_is_a_conflict() -> None:
    api = FakeApi(handle=winpipe.INVALID_HANDLE_VALUE, error=winpipe.ERROR_ACCESS_DENIED)
    with pytest.raises(EndpointError) as caught:
        winpipe.create_server_pipe("\\\\.\\pipe\\x", SID, api)  # type: ignore[arg-type]
    assert caught.value.reason == "conflict"


def test_exchange_reports_not_listening_when_the_pipe_does_not_exist() -> None:
    def missing(*args: object, **kwargs: object) -> object:
        raise FileNotFoundError(2, "not found")

    with pytest.raises(NotListening):
        winpipe.exchange("\\\\.\\pipe\\x", b"{}\n", 1.0, missing)


def test_exchange_writes_one_line_and_returns_the_reply_line() -> None:
    class Pipe(io.BytesIO):
        written = b""

        def write(self, data: bytes) -> int:  # type: ignore[override]
            Pipe.written += data
            return len(data)

    reply = winpipe.exchange("p", b'{"v": 1}\n', 1.0, lambda *a, **k: Pipe(b'{"ok": true}\n'))
    assert (reply, Pipe.written) == (b'{"ok": true}\n', b'{"v": 1}\n')
    with pytest.raises(ClientUnavailable):
        winpipe.exchange("p", b"x\n", 1.0, lambda *a, **k: Pipe(b"no newline"))
