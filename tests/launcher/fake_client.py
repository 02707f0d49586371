"""A stand-in game client for the tests: records how it was started and every join it receives.

Usage: fake_client.py SCHEME RECORD_DIR [--never-listen]. On start it writes
RECORD_DIR/started-<pid>.json (its argv and environment); each join is appended to
RECORD_DIR/joins.jsonl. With --never-listen it only records its start and sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from launcher.ipc import JoinListener
from launcher.urls import Join


def main() -> None:
    scheme, record_dir = sys.argv[1], Path(sys.argv[2])
    started = {"argv": sys.argv, "environ": dict(os.environ), "pid": os.getpid()}
    (record_dir / f"started-{os.getpid()}.json").write_text(json.dumps(started))
    if "--never-listen" in sys.argv:
        time.sleep(60)
        return

    def record(join: Join) -> None:
        with open(record_dir / "joins.jsonl", "a") as handle:
            handle.write(json.dumps({"lobby": join.lobby, "token": join.token}) + "\n")

    async def serve() -> None:
        listener = JoinListener(scheme, record)
        await listener.start()
        (record_dir / f"listening-{os.getpid()}").write_text("")
        await listener.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
