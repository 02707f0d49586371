"""The player path on Windows: a click starts the arena example client on Windows Python, which joins.

The lobby and the arena servers run on Linux (Wine's sockets are the host's); the launcher, the
game client and its SDK run on the official Windows CPython.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.examples.test_arena import Run, arena, online_games, wait_until  # noqa: F401 - the fixture
from tests.support.lobby import new_player
from tests.support.wine import windows_path

from .conftest import SCHEME, WinWorld


def test_a_click_starts_the_windows_arena_client_which_verifies_connects_and_sees_the_player(
    win: WinWorld, arena: Run, tmp_path: Path  # noqa: F811
) -> None:
    log = tmp_path / "client.log"
    client = [windows_path(win.python.python), "-m", "examples.arena.client", "--lobby", arena.url, "--yes",
              "--log", windows_path(log)]  # fmt: skip
    win.install(*client, lobby=arena.url)
    game = next(g for g in online_games(arena.url) if g["name"] == "Arena #1")
    with httpx.Client(base_url=arena.url, timeout=10) as api:
        player = new_player(api)
        issued = api.post(f"/v1/games/{game['id']}/join", headers=player.auth).json()
        assert issued["launch_url"].startswith(f"{SCHEME}://join?")
        assert win.click(issued["launch_url"]) == [0], win.click_errors

        def members() -> list[str]:
            return [m["name"] for m in api.get(f"/v1/games/{game['id']}").json()["members"]]

        wait_until(lambda: members() == [player.name], "the player to be a member", 60)
    wait_until(lambda: f"players on Arena #1: {player.name}" in log.read_text(), "the player list", 60)
    assert f"connected to {game['address']} as {player.name}" in log.read_text()
