"""Benchmarks `launcher open -- URL` from process start until the join reaches a running listener.

Side by side in the same run, interleaved: `python -c pass` (the bare interpreter start). The
launcher's bytecode is compiled first, as a pip install does. Target: at most 2x the bare start.
Run as `.venv/bin/python -m bench.launcher_open`; it rewrites its section of docs/benchmarks.md.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import write_section

REPO = Path(__file__).resolve().parent.parent
RUNS = 40
TARGET_RATIO = 2.0
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"
URL = f"bench://join?v=1&lobby=https%3A%2F%2Flobby.example&token={TOKEN}"
LISTENER = """
import asyncio, os, sys
from launcher.ipc import JoinListener
fd = int(sys.argv[1])
async def main():
    listener = JoinListener("bench", lambda join: os.write(fd, b"j") and None)
    await listener.start()
    os.write(fd, b"r")
    await listener.serve_forever()
asyncio.run(main())
"""


def timed(command: list[str], env: dict[str, str], joins: int | None = None) -> tuple[float, float]:
    """Run `command` once; return seconds until a join byte arrives (if `joins`) and until exit."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    if joins is not None and os.read(joins, 1) != b"j":
        raise RuntimeError("the listener did not report the join")
    arrived = time.perf_counter()
    if process.wait() != 0:
        raise RuntimeError(f"{command[:3]} failed")
    return arrived - start, time.perf_counter() - start


def main() -> None:
    """Measure both commands interleaved and write the section."""
    compileall.compile_dir(str(REPO / "launcher"), quiet=1)
    sys.path.insert(0, str(REPO))
    from launcher import config
    from launcher.platforms import launcher_command

    with tempfile.TemporaryDirectory() as root:
        runtime = Path(root, "run")
        runtime.mkdir(mode=0o700)
        env = dict(os.environ, HOME=root, XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=f"{root}/cfg")
        env["PYTHONPATH"] = str(REPO)
        os.environ.update(env)
        config.save(config.Config("bench", ["https://lobby.example"], [sys.executable]))
        read_end, write_end = os.pipe()
        listener = subprocess.Popen(
            [sys.executable, "-c", LISTENER, str(write_end)], env=env, pass_fds=[write_end]
        )
        try:
            if os.read(read_end, 1) != b"r":
                raise RuntimeError("the listener did not start")
            command = [*launcher_command(), "open", "--", URL]
            bare, arrival, exit_ = [], [], []
            for _ in range(RUNS):
                bare.append(timed([sys.executable, "-c", "pass"], env)[1])
                arrived, exited = timed(command, env, read_end)
                arrival.append(arrived)
                exit_.append(exited)
        finally:
            listener.kill()
            listener.wait()
    medians = [statistics.median(times) for times in (bare, arrival, exit_)]
    write_report(*medians, program=command[0])


def write_report(bare_s: float, launcher_s: float, exit_s: float, program: str) -> None:
    """Write the medians and the ratio to docs/benchmarks.md and print them."""
    ratio = launcher_s / bare_s
    verdict = "meets" if max(ratio, exit_s / bare_s) <= TARGET_RATIO else "MISSES"
    body = (
        f"Median of {RUNS} interleaved runs each; the listener (`launcher.ipc.JoinListener`) was "
        f"already running; the launcher's bytecode was compiled first, as pip does at install.\n\n"
        "| what | median |\n|---|---|\n"
        f"| `python -c pass` (bare interpreter start) | {bare_s * 1000:.1f} ms |\n"
        f"| `{Path(program).name} open -- URL` until the join reaches the listener "
        f"| {launcher_s * 1000:.1f} ms |\n"
        f"| the same, until the launcher process has exited (0) | {exit_s * 1000:.1f} ms |\n\n"
        f"Ratio: **{ratio:.2f}x** the bare interpreter start until the join arrives "
        f"({exit_s / bare_s:.2f}x until the launcher has exited); "
        f"this {verdict} the target of at most {TARGET_RATIO:g}x.\n"
    )
    write_section("Launcher hand-off", ".venv/bin/python -m bench.launcher_open", body)
    print(body)


if __name__ == "__main__":
    main()
