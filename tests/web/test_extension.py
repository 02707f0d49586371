"""The browser-extension path in Debian's Chromium: Join through the game's extension and native host.

Chromium runs headed on the tests' Xvfb with a persistent user data directory that is Chromium's
default for the private home (`$XDG_CONFIG_HOME/chromium`), so the host manifest that `launcher
install --extension-id` writes is the one Chromium reads; the extension is the unpacked folder
`launcher extension` writes, loaded with `--load-extension`. No `AutoLaunchProtocolsFromOrigins`
policy covers this lobby's origin: a custom-scheme link from it would ask the player first.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.launcher.conftest import FAKE_CLIENT, Records
from tests.support.lobby import ADMIN, LobbyProcess, free_port, unique
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, REPO, SCHEME, Home, Processes, python, wait_until
from tests.web.test_browser import row, sign_up

FOREIGN_HOST = "localhost"  # the same lobby server under another origin, which the extension does not trust


@dataclass
class ExtensionBrowser:
    """A persistent Chromium context with the game's extension, in a home where `arena` is installed."""

    home: Home
    lobby: LobbyProcess
    context: object
    extension_id: str
    records: Records

    def install(self, *client: str) -> None:
        """Install `arena` for this lobby with `client` as the game, allowing the extension's host."""
        done = self.home.run(
            python(), "-m", "launcher", "install", SCHEME, "--lobby", self.lobby.url,
            "--extension-id", self.extension_id, "--", *client,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    def recording_client(self) -> list[str]:
        """The recording fake client's command: it writes its starts and joins into `records`."""
        return [python(), str(FAKE_CLIENT), SCHEME, str(self.records.records)]

    def page(self, url: str) -> object:
        """A new tab on `url`, with dialogs recorded and dismissed."""
        page = self.context.new_page()  # type: ignore[attr-defined]
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.set_default_timeout(15_000)
        page.goto(url)
        return page


@pytest.fixture(scope="module")
def ext_lobby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LobbyProcess]:
    """A lobby of its own, on an origin no managed policy lets open `arena` links silently."""
    process = LobbyProcess(tmp_path_factory.mktemp("ext-lobby")).start()
    yield process
    process.stop()


@pytest.fixture
def ext_browser(
    home: Home, ext_lobby: LobbyProcess, playwright_driver: object, tmp_path: Path
) -> Iterator[ExtensionBrowser]:
    """Chromium with the extension loaded unpacked, its id checked against the one Chromium derives."""
    from playwright.sync_api import Error

    private = Home(tmp_path / "world", home.display)
    out = tmp_path / "extension"
    made = private.run(
        python(), "-m", "launcher", "extension", SCHEME, "--out", str(out), "--lobby", ext_lobby.url
    )
    assert made.returncode == 0, made.stderr
    extension_id = made.stdout.split("extension id ")[1].split()[0]
    records = Records()
    records.records = tmp_path / "records"
    records.records.mkdir()
    profile = Path(private.env["XDG_CONFIG_HOME"]) / "chromium"
    args = [*CHROMIUM_ARGS, f"--disable-extensions-except={out}", f"--load-extension={out}"]
    try:
        context = playwright_driver.chromium.launch_persistent_context(  # type: ignore[attr-defined]
            str(profile), executable_path=CHROMIUM, headless=False, args=args, env=private.env,
            ignore_default_args=["--disable-extensions"], timeout=30_000,
        )  # fmt: skip
    except Error as exc:
        pytest.fail(f"cannot start {CHROMIUM} headed with the extension on {home.display}: {exc}")
    try:
        worker = (
            context.service_workers[0]
            if context.service_workers
            else context.wait_for_event("serviceworker", timeout=15_000)
        )
        assert worker.url == f"chrome-extension://{extension_id}/background.js"
        yield ExtensionBrowser(private, ext_lobby, context, extension_id, records)
    finally:
        context.close()
        for entry in records.started():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry["pid"]), signal.SIGKILL)  # type: ignore[arg-type]


def post_join(page: object, url: str, timeout_ms: int = 3000) -> dict[str, object] | None:
    """Post a join to the content script as the page would; the answer, or None if none came."""
    return page.evaluate(  # type: ignore[attr-defined]
        """([url, timeout]) => new Promise((resolve) => {
             const id = "probe-" + Math.random();
             const done = (e) => { if (e.data && e.data.playlink === "join-result" && e.data.id === id) {
               window.removeEventListener("message", done); resolve(e.data); } };
             window.addEventListener("message", done);
             setTimeout(() => resolve(null), timeout);
             window.postMessage({playlink: "join", id, url}, window.location.origin);
           })""",
        [url, timeout_ms],
    )


def launch_url(lobby: LobbyProcess, page: object) -> str:
    """A real launch URL issued by the lobby to the player logged in on `page`."""
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        reply = api.post("/v1/servers", json={"name": unique("S"), "address": f"127.0.0.1:{free_port()}",
                                              "capacity": 4}, headers=ADMIN)  # fmt: skip
        server = reply.json()
        api.put(f"/v1/servers/{server['id']}/heartbeat", json={"players": 0},
                headers={"Authorization": f"Bearer {server['secret']}"})  # fmt: skip
    issued = page.evaluate(  # type: ignore[attr-defined]
        "async (id) => (await fetch(`/v1/games/${id}/join`, {method: 'POST'})).json()", server["id"]
    )
    assert "launch_url" in issued, issued
    return str(issued["launch_url"])


def test_a_click_on_join_reaches_the_example_game_through_the_extension_with_no_dialog(
    ext_browser: ExtensionBrowser, tmp_path: Path
) -> None:
    lobby = ext_browser.lobby
    client_log = tmp_path / "client.log"
    ext_browser.install(
        python(),
        str(REPO / "examples/arena/client.py"),
        "--lobby",
        lobby.url,
        "--yes",
        "--log",
        str(client_log),
    )
    page = ext_browser.page(lobby.url + "/")
    player = unique("player")
    sign_up(page, player)
    page.get_by_text(f"Signed in as {player}").wait_for()
    name = unique("Arena")
    address = f"127.0.0.1:{free_port()}"
    processes = Processes()
    try:
        with httpx.Client(base_url=lobby.url, timeout=10) as api:
            reply = api.post(
                "/v1/servers", json={"name": name, "address": address, "capacity": 4}, headers=ADMIN
            )
            server_id, secret = reply.json()["id"], reply.json()["secret"]
            processes.start(
                [python(), "-m", "examples.arena.server", "--lobby", lobby.url, "--listen", address,
                 "--name", name, "--server-id", server_id],
                dict(ext_browser.home.env, ARENA_SERVER_SECRET=secret),
                tmp_path / "server.log",
            )  # fmt: skip
            join = row(page, name).get_by_role("button", name=f"Join {name}")
            page.wait_for_function("b => !b.disabled", arg=join.element_handle(), timeout=20_000)
            join.click()
            page.locator("#join-panel[data-via=extension][data-answer=ok]").wait_for(timeout=30_000)
            page.locator("#join-panel[data-stage=joined]").wait_for(timeout=30_000)
            assert page.locator("#join-state").text_content() == f"Joined {name}."
            assert [m["name"] for m in api.get(f"/v1/games/{server_id}").json()["members"]] == [player]
        text = wait_until(lambda: client_log.exists() and client_log.read_text(), "the game client's log")
        processes.pids += [int(pid) for pid in re.findall(r"\(pid (\d+)\)", str(text))]
        wait_until(
            lambda: f"connected to {address} as {player}" in client_log.read_text(), "the client to connect"
        )
        assert page.dialogs == []  # type: ignore[attr-defined]
        assert page.locator("#fallback").is_hidden()
    finally:
        processes.stop()


def test_a_hostile_join_sent_through_the_extension_is_refused_with_its_reason(
    ext_browser: ExtensionBrowser,
) -> None:
    ext_browser.install(*ext_browser.recording_client())
    page = ext_browser.page(ext_browser.lobby.url + "/")
    sign_up(page, unique("player"))
    page.get_by_role("button", name="Log out").wait_for()
    url = launch_url(ext_browser.lobby, page)
    evil = re.sub(r"lobby=[^&]+", "lobby=https%3A%2F%2Fevil.example", url)
    answer = post_join(page, evil, 15_000)
    assert answer is not None
    assert (answer["ok"], answer["reason"]) == (False, "untrusted_lobby")
    answer = post_join(page, url.replace("token=", "token=x."), 15_000)
    assert (answer or {}).get("reason") == "malformed"
    assert ext_browser.records.started() == []


def test_another_origin_and_the_lobby_framed_by_another_site_cannot_reach_the_extension(
    ext_browser: ExtensionBrowser,
) -> None:
    ext_browser.install(*ext_browser.recording_client())
    lobby = ext_browser.lobby
    trusted = ext_browser.page(lobby.url + "/")
    sign_up(trusted, unique("player"))
    trusted.get_by_role("button", name="Log out").wait_for()
    url = launch_url(lobby, trusted)
    foreign_origin = lobby.url.replace("127.0.0.1", FOREIGN_HOST)
    foreign = ext_browser.page(foreign_origin + "/")
    assert foreign.evaluate("(u) => window.playlinkExtension.available(u)", url) is False  # type: ignore[attr-defined]
    assert post_join(foreign, url) is None

    frame_page = f"{foreign_origin}/framing-test"
    ext_browser.context.route(  # type: ignore[attr-defined]
        frame_page,
        lambda route: route.fulfill(content_type="text/html", body=f'<iframe src="{lobby.url}/"></iframe>'),
    )

    def without_frame_denial(route: object) -> None:
        response = route.fetch()  # type: ignore[attr-defined]
        headers = {
            k: v
            for k, v in response.headers.items()
            if k not in ("x-frame-options", "content-security-policy")
        }
        route.fulfill(response=response, headers=headers)  # type: ignore[attr-defined]

    ext_browser.context.route(f"{lobby.url}/", without_frame_denial)  # type: ignore[attr-defined]
    framing = ext_browser.page(frame_page)
    frame = wait_until(
        lambda: next((f for f in framing.frames if f.url == f"{lobby.url}/"), None), "the frame"
    )
    frame.wait_for_function("() => window.playlinkExtension !== undefined")  # type: ignore[attr-defined]
    assert post_join(frame, url) is None
    assert frame.evaluate("(u) => window.playlinkExtension.available(u)", url) is False  # type: ignore[attr-defined]
    assert ext_browser.records.started() == []
    assert ext_browser.records.joins() == []


def test_without_the_extension_the_same_page_uses_the_url_scheme(
    home: Home, ext_lobby: LobbyProcess, playwright_driver: object, tmp_path: Path
) -> None:
    private = Home(tmp_path / "world", home.display)
    with httpx.Client(base_url=ext_lobby.url, timeout=10) as api:
        reply = api.post("/v1/servers", json={"name": "Plain", "address": f"127.0.0.1:{free_port()}",
                                              "capacity": 4}, headers=ADMIN)  # fmt: skip
        server = reply.json()
        api.put(f"/v1/servers/{server['id']}/heartbeat", json={"players": 0},
                headers={"Authorization": f"Bearer {server['secret']}"})  # fmt: skip
    browser = playwright_driver.chromium.launch(  # type: ignore[attr-defined]
        executable_path=CHROMIUM, headless=False, args=CHROMIUM_ARGS, env=private.env, timeout=30_000
    )
    try:
        page = browser.new_page()
        page.set_default_timeout(15_000)
        page.goto(ext_lobby.url + "/")
        sign_up(page, unique("player"))
        page.get_by_role("button", name="Join Plain").click()
        page.locator("#join-panel[data-via=scheme]").wait_for()
        page.locator("#fallback").wait_for(timeout=15_000)
        assert page.evaluate("(u) => window.playlinkExtension.available(u)", f"{SCHEME}://join?") is False
    finally:
        browser.close()
