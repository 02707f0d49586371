"""A real browser for the web page: Debian's Chromium, headed on an Xvfb of our own, in a private XDG home.

The browser inherits the temporary HOME and XDG_* variables, so when it hands an `arena://` URL to
`xdg-open` the launcher registered in that home is what runs. A managed Chromium policy,
`AutoLaunchProtocolsFromOrigins`, lets the test lobby's origin open `arena` links without a prompt;
it is written under /etc/chromium/policies/managed/ for the session and removed afterwards. A machine
that cannot do any of this fails the tests with a message; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.display import xvfb
from tests.support.lobby import LobbyProcess

CHROMIUM = "/usr/bin/chromium"
POLICY_DIR = Path("/etc/chromium/policies/managed")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]
REPO = Path(__file__).resolve().parents[2]
SCHEME = "arena"
MISSING_SCHEME = "playlink-missing"


@dataclass
class Home:
    """A private user world: HOME, XDG dirs, a 0700 runtime dir, and the X display."""

    root: Path
    display: str
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        home, runtime = self.root / "home", self.root / "run"
        home.mkdir(parents=True)
        runtime.mkdir(mode=0o700)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_RUNTIME_DIR": str(runtime),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_DIRS": str(self.root / "no-system-data"),
            "XDG_CONFIG_DIRS": str(self.root / "no-system-config"),
            "DISPLAY": self.display,
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """Run a command in this world."""
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    """An X display and a private home for the browser, the launcher and the game client."""
    with xvfb() as display:
        yield Home(tmp_path_factory.mktemp("web-home"), display)


@pytest.fixture(scope="session")
def web_lobby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LobbyProcess]:
    """The lobby the browser tests use (rate limits off)."""
    process = LobbyProcess(tmp_path_factory.mktemp("web-lobby")).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def quiet_lobby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LobbyProcess]:
    """A lobby whose launch scheme no program on this machine handles: no game ever acknowledges."""
    process = LobbyProcess(
        tmp_path_factory.mktemp("quiet-lobby"), {"LOBBY_LAUNCH_SCHEME": MISSING_SCHEME}
    ).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def auto_launch_policy(web_lobby: LobbyProcess, quiet_lobby: LobbyProcess) -> Iterator[Path]:
    """The managed policy that lets the test lobbies open their schemes' links without a prompt."""
    policy = {
        "AutoLaunchProtocolsFromOrigins": [
            {"protocol": SCHEME, "allowed_origins": [web_lobby.url]},
            {"protocol": MISSING_SCHEME, "allowed_origins": [quiet_lobby.url]},
        ]
    }
    created = [p for p in (POLICY_DIR.parent, POLICY_DIR) if not p.exists()]
    path = POLICY_DIR / f"playlink-test-{os.getpid()}.json"
    try:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(policy))
    except OSError as exc:
        pytest.fail(f"cannot write the Chromium policy {path} (the browser tests run as root): {exc}")
    yield path
    path.unlink(missing_ok=True)
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    """The one Playwright driver of the session (its sync API allows one per thread)."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(home: Home, auto_launch_policy: Path, playwright_driver: object) -> Iterator[object]:
    """Debian's Chromium, headed on the Xvfb, with the private home's environment."""
    from playwright.sync_api import Error

    try:
        launched = playwright_driver.chromium.launch(  # type: ignore[attr-defined]
            executable_path=CHROMIUM, headless=False, args=CHROMIUM_ARGS, env=home.env, timeout=30_000
        )
    except Error as exc:
        pytest.fail(f"cannot start {CHROMIUM} headed on {home.display}: {exc}")
    yield launched
    launched.close()


@dataclass
class Watched:
    """A page with what it said: console errors, uncaught exceptions, dialogs, CSP violations."""

    page: object
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        """CSP violations the page reported (recorded by an init script outside the page's CSP)."""
        return self.page.evaluate("window.__cspViolations || []")  # type: ignore[attr-defined]


CSP_RECORDER = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


@pytest.fixture
def open_page(browser: object) -> Iterator[Callable[[str], Watched]]:
    """Open a fresh browser context on a URL and watch what the page reports."""
    contexts: list[object] = []

    def open_(url: str) -> Watched:
        context = browser.new_context()  # type: ignore[attr-defined]
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
        page.on("pageerror", lambda e: watched.console_errors.append(f"uncaught: {e}"))

        def on_dialog(dialog: object) -> None:
            watched.dialogs.append(dialog.message)  # type: ignore[attr-defined]
            dialog.dismiss()  # type: ignore[attr-defined]

        page.on("dialog", on_dialog)
        page.add_init_script(CSP_RECORDER)
        page.set_default_timeout(15_000)
        page.goto(url)
        return watched

    yield open_
    for context in contexts:
        context.close()  # type: ignore[attr-defined]


class Processes:
    """Child processes a test starts (and game clients the launcher starts), all killed afterwards."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self.pids: list[int] = []

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start a command with its output in `log`."""
        with log.open("ab") as out:
            process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def stop(self) -> None:
        """SIGTERM everything, then SIGKILL what is left."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Processes started by one test."""
    started = Processes()
    yield started
    started.stop()


def wait_until(condition: Callable[[], object], what: str, timeout_s: float = 15.0) -> object:
    """Poll `condition` until it returns something true; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.05)


def python() -> str:
    """The interpreter the tests run with (the project's virtual environment)."""
    return sys.executable
