"""Starts a join listener on Windows and prints what can be seen of its pipe, as JSON.

Usage: pipe_security.py SCHEME. Prints the user's SID (from the process token), the pipe's name,
its owner and DACL read back from the live pipe with GetSecurityInfo, and the reason a second
listener for the same scheme is refused.
"""

from __future__ import annotations

import asyncio
import json
import sys

from launcher import winapi, winpipe
from launcher.errors import LauncherError
from launcher.ipc import JoinListener


async def main(scheme: str) -> dict[str, object]:
    async with JoinListener(scheme) as listener:
        second = None
        try:
            async with JoinListener(scheme):
                pass
        except LauncherError as exc:
            second = exc.reason
        return {
            "sid": winpipe.current_user_sid(),
            "pipe": listener.path,
            "sddl": winapi.handle_sddl(listener.pipe_handle()),
            "second_listener": second,
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
