"""Windows IPC: a named pipe with a per-user name and an owner-only DACL (runs only on Windows).

Design (the Windows side of DESIGN.md's IPC):
- Name `\\\\.\\pipe\\playlink-<user SID>-<scheme>`: per user, so two users never meet on one pipe.
- The default pipe DACL lets Everyone read, so the server passes an explicit, protected DACL giving
  only the owner access: SDDL `D:P(A;;GA;;;<SID>)`.
- `FILE_FLAG_FIRST_PIPE_INSTANCE` makes a second server for the same name fail (single instance),
  and `PIPE_REJECT_REMOTE_CLIENTS` keeps it local; one message each way, at most 16 KiB.
- The launcher's side opens the pipe as a file: not found means nothing listens.
Everything that touches the Windows API goes through `WinApi`, the boundary the tests replace
with a fake (they mock only that boundary, since no Windows is available here).
"""

from __future__ import annotations

from launcher.errors import ClientUnavailable, EndpointError, NotListening

PIPE_ACCESS_DUPLEX = 0x3
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
PIPE_TYPE_BYTE = 0x0
PIPE_WAIT = 0x0
PIPE_REJECT_REMOTE_CLIENTS = 0x8
BUFFER_BYTES = 16 * 1024
INVALID_HANDLE_VALUE = -1
ERROR_ACCESS_DENIED = 5
ERROR_PIPE_BUSY = 231


def pipe_name(scheme: str, sid: str | None = None) -> str:
    """Return the per-user pipe name of `scheme`."""
    return f"\\\\.\\pipe\\playlink-{sid or WinApi().current_user_sid()}-{scheme}"


def owner_only_sddl(sid: str) -> str:
    """Return the SDDL of a protected DACL granting only `sid` access."""
    if not sid.startswith("S-1-") or not all(part.isdigit() for part in sid[4:].split("-")):
        raise EndpointError(f"not a user SID: {sid!r}")
    return f"D:P(A;;GA;;;{sid})"


def create_server_pipe(name: str, sid: str, api: WinApi) -> int:
    """Create the first (and only) instance of the pipe, owner-only, local clients only."""
    descriptor = api.security_descriptor(owner_only_sddl(sid))
    handle = api.create_named_pipe(
        name,
        PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
        1,
        BUFFER_BYTES,
        descriptor,
    )
    if handle == INVALID_HANDLE_VALUE:
        if api.last_error() == ERROR_ACCESS_DENIED:
            raise EndpointError(f"another client already listens on {name}", "conflict")
        raise EndpointError(f"cannot create the pipe {name} (error {api.last_error()})")
    return handle


def exchange(name: str, line: bytes, timeout_s: float, opener: object = open) -> bytes:
    """Send one line to the pipe server and return its one-line reply (the launcher's side)."""
    try:
        pipe = opener(name, "r+b", buffering=0)  # type: ignore[operator]
    except FileNotFoundError:
        raise NotListening("no game client is listening") from None
    except OSError as exc:
        raise ClientUnavailable(f"cannot open the game client's pipe: {exc.strerror}") from None
    with pipe:
        pipe.write(line)
        reply = pipe.read(BUFFER_BYTES + 1)
    if not reply.endswith(b"\n") or len(reply) > BUFFER_BYTES:
        raise ClientUnavailable("the game client's reply was cut short or too long")
    return reply


class WinApi:
    """The Windows API boundary (ctypes), the one seam the tests replace."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
        self.advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]

    def current_user_sid(self) -> str:
        """Return the string SID of the user running this process (`whoami /user`, without a shell)."""
        import os
        import subprocess

        whoami = os.path.join(os.environ.get("SYSTEMROOT", "C:\\Windows"), "System32", "whoami.exe")
        out = subprocess.run(  # noqa: S603 - fixed system tool, argument list
            [whoami, "/user", "/fo", "csv", "/nh"], capture_output=True, text=True, check=True
        ).stdout
        return out.strip().rsplit(",", 1)[-1].strip('"')

    def security_descriptor(self, sddl: str) -> object:
        """Convert SDDL to a SECURITY_ATTRIBUTES structure pointer."""
        ctypes = self.ctypes

        class SecurityAttributes(ctypes.Structure):
            _fields_ = (("nLength", ctypes.c_ulong), ("lpSecurityDescriptor", ctypes.c_void_p),
                        ("bInheritHandle", ctypes.c_int))  # fmt: skip

        descriptor = ctypes.c_void_p()
        if not self.advapi32.ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, 1, ctypes.byref(descriptor), None
        ):
            raise EndpointError(f"invalid security descriptor (error {self.last_error()})")
        attributes = SecurityAttributes(ctypes.sizeof(SecurityAttributes), descriptor, 0)
        return ctypes.byref(attributes)

    def create_named_pipe(
        self, name: str, open_mode: int, pipe_mode: int, instances: int, size: int, attributes: object
    ) -> int:
        """Call CreateNamedPipeW."""
        self.kernel32.CreateNamedPipeW.restype = self.ctypes.c_void_p
        handle = self.kernel32.CreateNamedPipeW(
            name, open_mode, pipe_mode, instances, size, size, 0, attributes
        )
        return INVALID_HANDLE_VALUE if handle in (None, 2**64 - 1) else int(handle)

    def last_error(self) -> int:
        """Return the calling thread's last Windows error code."""
        return self.ctypes.get_last_error()  # type: ignore[attr-defined]
