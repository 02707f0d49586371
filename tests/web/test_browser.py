"""The web page in a real browser, and a click on Join that goes through the OS into the example game."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.lobby import ADMIN, PASSWORD, LobbyProcess, add_server, free_port, unique
from tests.web.conftest import MISSING_SCHEME, REPO, SCHEME, Home, Processes, Watched, python, wait_until

XSS_NAME = "<img src=x onerror=alert(1)>"
NOT_LOGGED_IN = "the server responded with a status of 401"


def serious(errors: list[str]) -> list[str]:
    """Console errors other than the 401 of `GET /v1/players/me` that says "not logged in"."""
    return [e for e in errors if NOT_LOGGED_IN not in e]


def sign_up(page: object, name: str) -> None:
    """Sign up through the page's form (which also logs in)."""
    page.get_by_label("Name", exact=True).nth(1).fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password (at least 8 characters)").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign up").click()  # type: ignore[attr-defined]


def log_in(page: object, name: str, password: str = PASSWORD) -> None:
    """Log in through the page's form."""
    page.get_by_label("Name", exact=True).first.fill(name)  # type: ignore[attr-defined]
    page.get_by_label("Password", exact=True).fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Log in").click()  # type: ignore[attr-defined]


def row(page: object, name: str) -> object:
    """The game list's row of the server called `name`."""
    return page.locator("#games tr").filter(has=page.get_by_role("rowheader", name=name, exact=True))  # type: ignore[attr-defined]


def test_a_click_on_join_goes_through_xdg_open_and_the_launcher_into_the_example_game(
    web_lobby: LobbyProcess, home: Home, open_page: Callable[[str], Watched], processes: Processes,
    tmp_path: Path,
) -> None:
    client_log = tmp_path / "client.log"
    client = [python(), str(REPO / "examples/arena/client.py"), "--lobby", web_lobby.url, "--yes"]
    client += ["--log", str(client_log)]
    installed = home.run(
        python(), "-m", "launcher", "install", SCHEME, "--lobby", web_lobby.url, "--", *client
    )
    assert installed.returncode == 0, installed.stderr
    assert home.run("xdg-mime", "query", "default", f"x-scheme-handler/{SCHEME}").stdout.strip() == (
        f"playlink-{SCHEME}.desktop"
    ), "xdg-mime does not see the launcher as the arena handler in the test's XDG home"

    watched = open_page(web_lobby.url + "/")
    page = watched.page
    player = unique("player")
    sign_up(page, player)
    page.get_by_role("button", name="Log out").click()
    log_in(page, player)
    page.get_by_text(f"Signed in as {player}").wait_for()

    name = unique("Arena")
    address = f"127.0.0.1:{free_port()}"
    with httpx.Client(base_url=web_lobby.url, timeout=10) as api:
        reply = api.post("/v1/servers", json={"name": name, "address": address, "capacity": 4}, headers=ADMIN)
        assert reply.status_code == 201, reply.text
        server_id, secret = reply.json()["id"], reply.json()["secret"]
        row(page, name).wait_for()
        server_log = tmp_path / "server.log"
        processes.start(
            [python(), "-m", "examples.arena.server", "--lobby", web_lobby.url, "--listen", address,
             "--name", name, "--server-id", server_id],
            dict(home.env, ARENA_SERVER_SECRET=secret),
            server_log,
        )
        join = row(page, name).get_by_role("button", name=f"Join {name}")
        page.wait_for_function("b => !b.disabled", arg=join.element_handle(), timeout=20_000)
        join.click()

        page.locator("#join-panel[data-stage=joined]").wait_for(timeout=30_000)
        assert page.locator("#join-state").text_content() == f"Joined {name}."
        members = api.get(f"/v1/games/{server_id}").json()["members"]
        assert [m["name"] for m in members] == [player]

    text = wait_until(lambda: client_log.exists() and client_log.read_text(), "the game client's log")
    processes.pids += [int(pid) for pid in re.findall(r"\(pid (\d+)\)", str(text))]
    wait_until(lambda: f"players on {name}: {player}" in client_log.read_text(), "the client to show players")
    assert f"connected to {address} as {player}" in client_log.read_text()
    assert f"{player} joined (1 here)" in server_log.read_text()
    assert page.locator("#fallback").is_hidden()
    assert serious(watched.console_errors) == []


def test_a_server_name_with_markup_renders_as_text_and_runs_nothing(
    web_lobby: LobbyProcess, open_page: Callable[[str], Watched]
) -> None:
    with httpx.Client(base_url=web_lobby.url, timeout=10) as api:
        add_server(api, name=XSS_NAME)
    watched = open_page(web_lobby.url + "/")
    page = watched.page
    header = page.get_by_role("rowheader", name=XSS_NAME, exact=True)
    header.first.wait_for()
    assert header.first.text_content() == XSS_NAME
    page.wait_for_timeout(300)
    assert page.locator("#games img").count() == 0
    assert watched.dialogs == []
    assert serious(watched.console_errors) == []


def test_the_page_runs_under_its_csp_with_no_inline_script_or_style(
    web_lobby: LobbyProcess, open_page: Callable[[str], Watched]
) -> None:
    html = httpx.get(web_lobby.url + "/").text
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert re.findall(r"\s(on[a-z]+|style)\s*=", html, re.IGNORECASE) == []
    assert "<style" not in html.lower()
    watched = open_page(web_lobby.url + "/")
    page = watched.page
    page.locator("#live.on").wait_for()
    assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none", "app.css did not load"
    log_in(page, unique("nobody"), "wrong password")
    page.get_by_role("alert").wait_for()
    assert watched.violations() == []
    errors = [e for e in serious(watched.console_errors) if "status of 401" not in e]
    assert errors == []


def test_without_an_acknowledgement_the_fallback_panel_shows_install_steps_and_a_countdown(
    quiet_lobby: LobbyProcess, open_page: Callable[[str], Watched]
) -> None:
    lobby = quiet_lobby
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        add_server(api, name="Quiet", capacity=2)
    watched = open_page(lobby.url + "/")
    page = watched.page
    sign_up(page, unique("player"))
    page.get_by_role("button", name="Join Quiet").click()
    page.locator("#join-panel[data-stage=sent]").wait_for()
    fallback = page.locator("#fallback")
    fallback.wait_for(timeout=10_000)
    assert page.locator("#install-command").text_content().startswith(
        f"launcher install {MISSING_SCHEME} --lobby {lobby.url} -- "
    )
    assert re.fullmatch(r"[12]:\d\d", page.locator("#countdown").text_content() or "")
    assert page.get_by_role("button", name="Try again").is_enabled()
    page.get_by_role("button", name="Try again").click()
    assert fallback.is_hidden()
    fallback.wait_for(timeout=10_000)
    assert serious(watched.console_errors) == []


def test_a_429_shows_a_readable_message_with_the_retry_time(
    start_lobby: Callable[..., LobbyProcess], open_page: Callable[[str], Watched]
) -> None:
    lobby = start_lobby(LOBBY_RATE_LIMITS_ENABLED="true", LOBBY_RATE_LIMIT_LOGIN="2/minute")
    page = open_page(lobby.url + "/").page
    for _ in range(3):
        log_in(page, unique("nobody"), "wrong password")
        page.get_by_role("alert").wait_for()
    alert = page.get_by_role("alert")
    page.wait_for_function("() => /Too many requests/.test(document.getElementById('error').textContent)")
    message = alert.text_content() or ""
    seconds = re.search(r"try again in (\d+) seconds? \(at [^)]+\)\.", message)
    assert seconds, message
    assert 0 < int(seconds.group(1)) <= 60



def test_a_join_declined_in_the_game_shows_declined_and_frees_the_slot(
    quiet_lobby: LobbyProcess, open_page: Callable[[str], Watched]
) -> None:
    lobby = quiet_lobby
    name = unique("Declined")
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server = add_server(api, name=name, capacity=1)
        watched = open_page(lobby.url + "/")
        page = watched.page
        sign_up(page, unique("player"))
        with page.expect_response(lambda r: r.url.endswith(f"/v1/games/{server.id}/join")) as issued:
            page.get_by_role("button", name=f"Join {name}").click()
        token = issued.value.json()["token"]
        page.locator("#join-panel[data-stage=sent]").wait_for()
        r = api.post("/v1/joins/decline", json={"token": token})
        assert r.json() == {"state": "declined"}
        page.locator("#join-panel[data-stage=declined]").wait_for(timeout=10_000)
        assert page.locator("#join-state").text_content() == (
            f"Declined in the game: you did not join {name}. Join again for a new try."
        )
        assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 0
    page.wait_for_timeout(6_000)
    assert page.locator("#fallback").is_hidden()
    assert serious(watched.console_errors) == []
