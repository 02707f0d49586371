"""The Win32 calls the launcher and the pipe listener make, each declared once with its ctypes signature.

Imported only on Windows. Everything here is the documented Win32 API (kernel32, advapi32); no
private Python module is used. Failures raise `OSError` through `WinError`, with the Windows error
code in `winerror`.
"""

from __future__ import annotations

import ctypes
from ctypes import wintypes

HANDLE = wintypes.HANDLE
DWORD = wintypes.DWORD
BOOL = wintypes.BOOL
LPVOID = ctypes.c_void_p
INVALID_HANDLE = HANDLE(-1).value

ERROR_FILE_NOT_FOUND = 2
ERROR_ACCESS_DENIED = 5
ERROR_BROKEN_PIPE = 109
ERROR_SEM_TIMEOUT = 121
ERROR_PIPE_BUSY = 231
ERROR_NO_DATA = 232
ERROR_PIPE_NOT_CONNECTED = 233
ERROR_MORE_DATA = 234
ERROR_OPERATION_ABORTED = 995
ERROR_IO_PENDING = 997
ERROR_PIPE_CONNECTED = 535
WAIT_OBJECT_0 = 0
WAIT_TIMEOUT = 0x102
INFINITE = 0xFFFFFFFF

GENERIC_READ = 0x80000000
GENERIC_WRITE = 0x40000000
OPEN_EXISTING = 3
FILE_FLAG_OVERLAPPED = 0x40000000
SECURITY_SQOS_PRESENT = 0x00100000
SECURITY_IDENTIFICATION = 0x00010000
PIPE_ACCESS_DUPLEX = 0x3
FILE_FLAG_FIRST_PIPE_INSTANCE = 0x00080000
PIPE_TYPE_BYTE = 0x0
PIPE_READMODE_BYTE = 0x0
PIPE_WAIT = 0x0
PIPE_REJECT_REMOTE_CLIENTS = 0x8
TOKEN_QUERY = 0x8
TOKEN_USER_CLASS = 1
PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
SE_KERNEL_OBJECT = 6
OWNER_SECURITY_INFORMATION = 0x1
DACL_SECURITY_INFORMATION = 0x4
SDDL_REVISION_1 = 1


class Overlapped(ctypes.Structure):
    """OVERLAPPED: the record of one asynchronous read, write or connect."""

    _fields_ = (
        ("Internal", ctypes.c_size_t),
        ("InternalHigh", ctypes.c_size_t),
        ("Offset", DWORD),
        ("OffsetHigh", DWORD),
        ("hEvent", HANDLE),
    )


class SecurityAttributes(ctypes.Structure):
    """SECURITY_ATTRIBUTES: a security descriptor handed to CreateNamedPipeW."""

    _fields_ = (("nLength", DWORD), ("lpSecurityDescriptor", LPVOID), ("bInheritHandle", BOOL))


_kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
_advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]


def _declare(dll: ctypes.CDLL, name: str, restype: object, *argtypes: object) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    """Return `dll.name` with its result and argument types set."""
    function = getattr(dll, name)
    function.restype = restype
    function.argtypes = argtypes
    return function


_PHANDLE = ctypes.POINTER(HANDLE)
_PDWORD = ctypes.POINTER(DWORD)
_POV = ctypes.POINTER(Overlapped)
_PLPVOID = ctypes.POINTER(LPVOID)
_PLPWSTR = ctypes.POINTER(wintypes.LPWSTR)

GetCurrentProcess = _declare(_kernel32, "GetCurrentProcess", HANDLE)
OpenProcess = _declare(_kernel32, "OpenProcess", HANDLE, DWORD, BOOL, DWORD)
CloseHandle = _declare(_kernel32, "CloseHandle", BOOL, HANDLE)
LocalFree = _declare(_kernel32, "LocalFree", LPVOID, LPVOID)
CreateEventW = _declare(_kernel32, "CreateEventW", HANDLE, LPVOID, BOOL, BOOL, wintypes.LPCWSTR)
SetEvent = _declare(_kernel32, "SetEvent", BOOL, HANDLE)
WaitForMultipleObjects = _declare(
    _kernel32, "WaitForMultipleObjects", DWORD, DWORD, _PHANDLE, BOOL, DWORD
)
CreateNamedPipeW = _declare(
    _kernel32, "CreateNamedPipeW", HANDLE,
    wintypes.LPCWSTR, DWORD, DWORD, DWORD, DWORD, DWORD, DWORD, ctypes.POINTER(SecurityAttributes),
)  # fmt: skip
ConnectNamedPipe = _declare(_kernel32, "ConnectNamedPipe", BOOL, HANDLE, _POV)
CreateFileW = _declare(
    _kernel32, "CreateFileW", HANDLE, wintypes.LPCWSTR, DWORD, DWORD, LPVOID, DWORD, DWORD, HANDLE
)
ReadFile = _declare(_kernel32, "ReadFile", BOOL, HANDLE, LPVOID, DWORD, _PDWORD, _POV)
WriteFile = _declare(_kernel32, "WriteFile", BOOL, HANDLE, LPVOID, DWORD, _PDWORD, _POV)
GetOverlappedResult = _declare(_kernel32, "GetOverlappedResult", BOOL, HANDLE, _POV, _PDWORD, BOOL)
CancelIoEx = _declare(_kernel32, "CancelIoEx", BOOL, HANDLE, _POV)
GetNamedPipeClientProcessId = _declare(
    _kernel32, "GetNamedPipeClientProcessId", BOOL, HANDLE, ctypes.POINTER(wintypes.ULONG)
)
GetNamedPipeServerProcessId = _declare(
    _kernel32, "GetNamedPipeServerProcessId", BOOL, HANDLE, ctypes.POINTER(wintypes.ULONG)
)
OpenProcessToken = _declare(_advapi32, "OpenProcessToken", BOOL, HANDLE, DWORD, _PHANDLE)
GetTokenInformation = _declare(
    _advapi32, "GetTokenInformation", BOOL, HANDLE, ctypes.c_int, LPVOID, DWORD, _PDWORD
)
ConvertSidToStringSidW = _declare(_advapi32, "ConvertSidToStringSidW", BOOL, LPVOID, _PLPWSTR)
ConvertStringSecurityDescriptorToSecurityDescriptorW = _declare(
    _advapi32, "ConvertStringSecurityDescriptorToSecurityDescriptorW", BOOL,
    wintypes.LPCWSTR, DWORD, _PLPVOID, ctypes.POINTER(wintypes.ULONG),
)  # fmt: skip
ConvertSecurityDescriptorToStringSecurityDescriptorW = _declare(
    _advapi32, "ConvertSecurityDescriptorToStringSecurityDescriptorW", BOOL,
    LPVOID, DWORD, DWORD, _PLPWSTR, ctypes.POINTER(wintypes.ULONG),
)  # fmt: skip
GetSecurityInfo = _declare(
    _advapi32, "GetSecurityInfo", DWORD,
    HANDLE, ctypes.c_int, DWORD, _PLPVOID, _PLPVOID, _PLPVOID, _PLPVOID, _PLPVOID,
)  # fmt: skip


def last_error() -> OSError:
    """Return the calling thread's last Windows error as an `OSError` with `winerror` set."""
    return ctypes.WinError(ctypes.get_last_error())  # type: ignore[attr-defined]


def check(ok: object) -> None:
    """Raise the last Windows error when a BOOL-returning call failed."""
    if not ok:
        raise last_error()


def process_user_sid(process: int | None = None) -> str:
    """Return the string SID of the user a process runs as (this process by default)."""
    if process is None:
        process = GetCurrentProcess()
    token = HANDLE()
    check(OpenProcessToken(process, TOKEN_QUERY, ctypes.byref(token)))
    try:
        size = DWORD(0)
        GetTokenInformation(token, TOKEN_USER_CLASS, None, 0, ctypes.byref(size))
        buffer = ctypes.create_string_buffer(size.value or 1)
        check(GetTokenInformation(token, TOKEN_USER_CLASS, buffer, size, ctypes.byref(size)))
        sid = LPVOID.from_buffer(buffer).value  # TOKEN_USER starts with SID_AND_ATTRIBUTES.Sid
        text = wintypes.LPWSTR()
        check(ConvertSidToStringSidW(sid, ctypes.byref(text)))
        try:
            return str(text.value)
        finally:
            LocalFree(text)
    finally:
        CloseHandle(token)


def pid_user_sid(pid: int) -> str:
    """Return the string SID of the user the process `pid` runs as."""
    process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, False, pid)
    if not process:
        raise last_error()
    try:
        return process_user_sid(process)
    finally:
        CloseHandle(process)


def security_attributes(sddl: str) -> tuple[SecurityAttributes, LPVOID]:
    """Return SECURITY_ATTRIBUTES built from `sddl`, and the descriptor to `LocalFree` afterwards."""
    descriptor = LPVOID()
    check(
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl, SDDL_REVISION_1, ctypes.byref(descriptor), None
        )
    )
    return SecurityAttributes(ctypes.sizeof(SecurityAttributes), descriptor, False), descriptor


def handle_sddl(handle: int) -> str:
    """Return the owner and DACL of a kernel object's live handle, as SDDL."""
    owner, dacl, descriptor = LPVOID(), LPVOID(), LPVOID()
    info = OWNER_SECURITY_INFORMATION | DACL_SECURITY_INFORMATION
    status = GetSecurityInfo(
        handle, SE_KERNEL_OBJECT, info,
        ctypes.byref(owner), None, ctypes.byref(dacl), None, ctypes.byref(descriptor),
    )  # fmt: skip
    if status:
        raise ctypes.WinError(status)  # type: ignore[attr-defined]
    try:
        text = wintypes.LPWSTR()
        check(
            ConvertSecurityDescriptorToStringSecurityDescriptorW(
                descriptor, SDDL_REVISION_1, info, ctypes.byref(text), None
            )
        )
        try:
            return str(text.value)
        finally:
            LocalFree(text)
    finally:
        LocalFree(descriptor)
