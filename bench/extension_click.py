"""Benchmarks a click on Join until the game has the join: through the extension, and the scheme's floor.

Debian's Chromium runs headed on an Xvfb with the game's extension (written by `launcher extension`)
and its native host (registered by `launcher install --extension-id`), in a private home. A page on
a trusted origin has two buttons, clicked alternately by Playwright:

- **extension**: the lobby page's own `extension.js` sends a launch URL through the extension to
  `launcher native-host`, which hands it to a running `JoinListener`; timed until the listener has
  the join, and until the page has the host's answer.
- **floor**: a link of a no-op custom scheme, allowed from the page's origin by a managed policy
  (so no dialog), whose `.desktop` handler only writes one byte to a FIFO: Chromium's dispatch plus
  `xdg-open`, before any launcher would even start. Timed until that byte arrives.

Both are timed from just before the click with `time.perf_counter` (CLOCK_MONOTONIC, shared by every
process on Linux). Target: the extension at most 0.5x the floor. Run as
`.venv/bin/python -m bench.extension_click` (as root, for the managed policy); it rewrites its
section of docs/benchmarks.md.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from bench.report import write_section
from tests.support.display import xvfb

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
POLICY_DIR = Path("/etc/chromium/policies/managed")
RUNS = 20
PAUSE_S = 0.5
TARGET_RATIO = 0.5
SCHEME = "benchext"
NOOP_SCHEME = "benchnoop"
TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"
LISTENER = """
import asyncio, os, struct, sys, time
from launcher.ipc import JoinListener
fd = int(sys.argv[1])
async def main():
    stamp = lambda join: os.write(fd, struct.pack("d", time.perf_counter())) and None
    listener = JoinListener(sys.argv[2], stamp)
    await listener.start()
    os.write(fd, struct.pack("d", 0.0))
    await listener.serve_forever()
asyncio.run(main())
"""
PAGE = """<!doctype html><meta charset="utf-8"><title>bench</title>
<script src="/extension.js"></script>
<button id="ext">extension</button> <a id="floor" href="{noop}://join">floor</a>
<script>
document.getElementById("ext").addEventListener("click", () => {{
  window.answer = window.playlinkExtension.send({url!r});
}});
</script>
"""


@contextlib.contextmanager
def serve_page() -> Iterator[str]:
    """Serve the bench page and the lobby's extension.js on a free loopback port; yield its origin."""
    script = (REPO / "lobby" / "static" / "extension.js").read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            """Serve extension.js, or the page for any other path."""
            body, kind = script, "text/javascript"
            if self.path != "/extension.js":
                body, kind = (
                    PAGE.format(noop=NOOP_SCHEME, url=launch_url(origin_of(self.server))).encode(),
                    "text/html",
                )
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            """Stay quiet."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield origin_of(server)
    finally:
        server.shutdown()


def origin_of(server: object) -> str:
    """The origin of the bench page's server."""
    return f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]


def launch_url(origin: str) -> str:
    """A launch URL of the bench scheme whose lobby is the page's own origin."""
    from urllib.parse import quote

    return f"{SCHEME}://join?v=1&lobby={quote(origin, safe='')}&token={TOKEN}"


def run(command: list[str], env: dict[str, str]) -> str:
    """Run a set-up command, failing loudly; return its stdout."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[:4]} failed: {done.stderr}")
    return done.stdout


def register_noop(env: dict[str, str], fifo: Path) -> None:
    """Register a custom-scheme handler that only writes one byte to `fifo`."""
    data_home = Path(env["XDG_DATA_HOME"])
    handler = data_home / "noop-handler"
    handler.parent.mkdir(parents=True, exist_ok=True)
    handler.write_text(f"#!/bin/sh\nprintf x > '{fifo}'\n")
    handler.chmod(0o755)
    desktop = data_home / "applications" / f"{NOOP_SCHEME}.desktop"
    desktop.parent.mkdir(parents=True, exist_ok=True)
    desktop.write_text(
        f"[Desktop Entry]\nType=Application\nName=noop\nExec={handler} %u\nNoDisplay=true\n"
        f"MimeType=x-scheme-handler/{NOOP_SCHEME};\n"
    )
    run(["xdg-mime", "default", desktop.name, f"x-scheme-handler/{NOOP_SCHEME}"], env)


@contextlib.contextmanager
def policy(origin: str) -> Iterator[None]:
    """Let `origin` open the no-op scheme without a dialog, for the run."""
    path = POLICY_DIR / f"playlink-bench-{os.getpid()}.json"
    POLICY_DIR.mkdir(parents=True, exist_ok=True)
    rule = {"protocol": NOOP_SCHEME, "allowed_origins": [origin]}
    path.write_text(json.dumps({"AutoLaunchProtocolsFromOrigins": [rule]}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def measure(env: dict[str, str], root: Path, display: str) -> tuple[list[float], list[float], list[float]]:
    """Set up the home, browser and listener; return the floor, extension and answer times."""
    from playwright.sync_api import sync_playwright

    python = sys.executable
    fifo = root / "noop.fifo"
    os.mkfifo(fifo)
    register_noop(env, fifo)
    fifo_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    keep_open = os.open(fifo, os.O_WRONLY)  # so that reads block instead of seeing end of file
    os.set_blocking(fifo_fd, True)
    read_end, write_end = os.pipe()
    listener = subprocess.Popen(
        [python, "-c", LISTENER, str(write_end), SCHEME], env=env, pass_fds=[write_end]
    )
    try:
        os.read(read_end, 8)
        with serve_page() as origin:
            out = root / "extension"
            made = run(
                [python, "-m", "launcher", "extension", SCHEME, "--out", str(out), "--lobby", origin], env
            )
            ext_id = made.split("extension id ")[1].split()[0]
            run([python, "-m", "launcher", "install", SCHEME, "--lobby", origin, "--extension-id", ext_id,
                 "--", python], env)  # fmt: skip
            with policy(origin), sync_playwright() as playwright:
                args = ["--no-sandbox", "--no-first-run", "--disable-gpu", "--disable-background-networking",
                        f"--disable-extensions-except={out}", f"--load-extension={out}"]  # fmt: skip
                context = playwright.chromium.launch_persistent_context(
                    str(Path(env["XDG_CONFIG_HOME"]) / "chromium"), executable_path=CHROMIUM, headless=False,
                    args=args, env=dict(env, DISPLAY=display), ignore_default_args=["--disable-extensions"],
                )  # fmt: skip
                try:
                    return clicks(context, origin, fifo_fd, read_end)
                finally:
                    context.close()
    finally:
        listener.kill()
        listener.wait()
        os.close(keep_open)
        os.close(fifo_fd)


def clicks(
    context: object, origin: str, fifo_fd: int, joins: int
) -> tuple[list[float], list[float], list[float]]:
    """Click the floor link and the extension button alternately, `RUNS` times each."""
    page = context.new_page()  # type: ignore[attr-defined]
    page.goto(origin + "/")
    page.wait_for_function(
        "() => window.playlinkExtension && window.playlinkExtension.available('benchext://x')"
    )
    floor, extension, answer = [], [], []
    for index in range(RUNS + 1):
        start = time.perf_counter()
        page.click("#floor", no_wait_after=True)
        os.read(fifo_fd, 1)
        arrived = time.perf_counter()
        time.sleep(PAUSE_S)
        start_ext = time.perf_counter()
        page.click("#ext")
        (had,) = struct.unpack("d", os.read(joins, 8))
        result = page.evaluate("window.answer")
        answered = time.perf_counter()
        if result != {"ok": True, "reason": "", "error": ""}:
            raise RuntimeError(f"the extension answered {result}")
        if index:  # the first round warms the browser, the service worker and the disk cache
            floor.append(arrived - start)
            extension.append(had - start_ext)
            answer.append(answered - start_ext)
        time.sleep(PAUSE_S)
    return floor, extension, answer


def main() -> None:
    """Measure both paths and write the section."""
    import compileall

    compileall.compile_dir(str(REPO / "launcher"), quiet=1)
    with tempfile.TemporaryDirectory() as name, xvfb() as display:
        root = Path(name)
        runtime = root / "run"
        runtime.mkdir(mode=0o700)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(root / "cfg"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_DATA_DIRS": str(root / "no-system-data"),
            "XDG_CONFIG_DIRS": str(root / "no-system-config"),
            "PYTHONPATH": str(REPO),
        }
        floor, extension, answer = measure(env, root, display)
    write_report(*(statistics.median(times) for times in (floor, extension, answer)))


def write_report(floor_s: float, extension_s: float, answer_s: float) -> None:
    """Write the medians and the ratio to docs/benchmarks.md and print them."""
    ratio = extension_s / floor_s
    verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
    body = (
        f"Median of {RUNS} clicks each, alternating, in one headed Debian Chromium on Xvfb, after one "
        "warm-up round; the game's listener (`launcher.ipc.JoinListener`) was already running; each "
        "extension click starts a new `launcher native-host` (`runtime.sendNativeMessage`).\n\n"
        "| from the click until | median |\n|---|---|\n"
        f"| floor: a no-op custom-scheme handler has started (Chromium + `xdg-open`, no dialog) "
        f"| {floor_s * 1000:.1f} ms |\n"
        f"| extension: the game has the join | {extension_s * 1000:.1f} ms |\n"
        f"| extension: the page has the host's answer | {answer_s * 1000:.1f} ms |\n\n"
        f"Ratio: **{ratio:.2f}x** the URL scheme's floor until the game has the join; this {verdict} "
        f"the target of at most {TARGET_RATIO:g}x. The URL scheme itself adds `launcher open` "
        "(see above) on top of its floor, and tells the page nothing.\n"
    )
    write_section("Join through the browser extension", ".venv/bin/python -m bench.extension_click", body)
    print(body)


if __name__ == "__main__":
    main()
