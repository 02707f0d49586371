"""Sends hostile messages to a join listener's pipe on Windows and prints the replies, as JSON.

Usage: pipe_refusals.py SCHEME. The listener has a 1 s read deadline; each case opens the pipe as
a raw client, writes its bytes (in pieces, for the trickle), and records the reply line, or
"closed" when the listener closed without one; "taken" lists the joins the listener accepted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from launcher import winpipe
from launcher.ipc import MAX_MESSAGE_BYTES, JoinListener
from launcher.urls import Join

GOOD = b'{"v": 1, "type": "join", "lobby": "https://lobby.example", "token": "a.b.c"}\n'
CASES: dict[str, list[bytes]] = {
    "oversized": [b'{"v": 1, "token": "' + b"a" * MAX_MESSAGE_BYTES + b'"}\n'],
    "not_json": [b"not json\n"],
    "extra_key": [GOOD.replace(b"}\n", b', "x": 1}\n')],
    "nested": [b"[" * 1400 + b"\n"],
    "lone_surrogate": [b'{"v": 1, "type": "join", "lobby": "https://lobby.example", "token": "\\ud800"}\n'],
    "silent": [],
    "trickle": [bytes([byte]) for byte in GOOD],
    "valid": [GOOD],
}


def send(name: str, pieces: list[bytes]) -> str:
    deadline = time.monotonic() + 10
    pipe = winpipe.PipeIo(winpipe._open_client(winpipe.pipe_name(sys.argv[1]), deadline))
    try:
        try:
            for piece in pieces:
                pipe.write(piece, deadline)
                if name == "trickle":
                    time.sleep(0.1)
        except OSError:
            pass  # the listener gave up on us: its reply is waiting
        try:
            return pipe.read_line(deadline).decode()
        except Exception as exc:
            return f"closed ({type(exc).__name__})"
    finally:
        pipe.close()


async def main() -> dict[str, object]:
    taken: list[Join] = []
    async with JoinListener(sys.argv[1], taken.append, read_timeout_s=1.0):
        replies = {name: await asyncio.to_thread(send, name, pieces) for name, pieces in CASES.items()}
    return {"replies": replies, "taken": [join.token for join in taken]}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
