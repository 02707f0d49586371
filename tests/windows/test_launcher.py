"""The launcher on the official Windows CPython (under Wine): registry, clicks, start, single instance."""

from __future__ import annotations

import json
import re

from tests.launcher.test_hostile_corpus import HOSTILE

from .conftest import LOBBY, SCHEME, TOKEN, VALID_URL, WinWorld


def registry(win: WinWorld) -> dict[str, str] | None:
    done = win.script("registry.py", "read", SCHEME)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_install_writes_the_designed_keys_status_reads_them_and_uninstall_removes_them(win: WinWorld) -> None:
    win.install()
    values = registry(win)
    assert values is not None
    assert values[""] == f"URL:{SCHEME} (Playlink)"
    assert values["URL Protocol"] == ""
    assert values["PlaylinkLauncher"] == "playlink-launcher-1"
    assert re.fullmatch(r'"[^"]*\\pythonw\.exe" "-P" "-m" "launcher" open -- "%1"', values["command"])
    status = win.launcher("status", SCHEME)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"{SCHEME}: installed, default handler" in status.stdout

    done = win.launcher("uninstall", SCHEME)
    assert done.returncode == 0, done.stderr
    assert registry(win) is None
    assert win.launcher("status", SCHEME).returncode == 1
    assert not (win.config_dir / f"{SCHEME}.json").exists()


def test_a_foreign_per_user_handler_is_neither_replaced_nor_reported_as_ours(win: WinWorld) -> None:
    win.script("registry.py", "foreign", SCHEME, '"C:\\Other\\game.exe" "%1"')
    done = win.launcher("install", SCHEME, "--lobby", LOBBY, "--", *win.client_command())
    assert done.returncode == 1
    assert "not ours" in done.stderr
    assert registry(win)["command"] == '"C:\\Other\\game.exe" "%1"'  # type: ignore[index]
    status = win.launcher("status", SCHEME)
    assert (status.returncode, "not installed, NOT the default handler" in status.stdout) == (1, True)


def test_a_machine_wide_handler_alone_is_not_ours(win: WinWorld) -> None:
    win.script("registry.py", "machine", SCHEME, '"C:\\Other\\game.exe" "%1"')
    status = win.launcher("status", SCHEME)
    assert status.returncode == 1
    assert "not installed, NOT the default handler" in status.stdout


def test_a_click_hands_the_join_to_the_running_windows_client(win: WinWorld) -> None:
    win.install()
    win.start_client()
    assert win.click(VALID_URL) == [0]
    assert win.joins() == [{"lobby": LOBBY, "token": TOKEN}]
    assert len(win.started()) == 1


def test_a_click_with_no_client_starts_it_detached_then_delivers_without_the_token_in_argv(
    win: WinWorld,
) -> None:
    win.install()
    assert win.click(VALID_URL) == [0]
    started = win.started()
    assert len(started) == 1
    assert TOKEN not in json.dumps(started[0])
    assert win.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_two_quick_clicks_start_one_client_and_deliver_both_joins(win: WinWorld) -> None:
    win.install()
    assert win.click(VALID_URL, VALID_URL) == [0, 0], win.click_errors
    assert len(win.started()) == 1
    assert win.joins() == [{"lobby": LOBBY, "token": TOKEN}] * 2


def test_every_hostile_url_is_refused_by_the_windows_launcher_with_nothing_started_or_delivered(
    win: WinWorld,
) -> None:
    """The corpus of the Linux launcher, each URL through the registered command line as a click.

    Windows cannot create a process whose command line exceeds 32,767 characters, so the two 100 KB
    URLs never reach the launcher (-1): the OS refuses them first, and nothing starts either way.
    """
    win.install()
    win.start_client()
    clicks = {name: args[1] for name, args in HOSTILE.items() if len(args) == 2 and args[0] == "--"}
    codes = dict(zip(clicks, win.click(*clicks.values()), strict=True))
    too_long = {name for name, url in clicks.items() if len(url) > 32_000}
    assert {name: code for name, code in codes.items() if code != 2 and name not in too_long} == {}
    assert all(codes[name] in (2, -1) for name in too_long)
    for name, args in HOSTILE.items():
        if name not in clicks:
            done = win.launcher("open", *args)
            assert done.returncode == 2, (name, done.stderr)
            assert TOKEN not in done.stderr
    assert len(win.started()) == 1
    assert win.joins() == []


def test_the_pipe_is_owner_only_per_user_and_single_listener(win: WinWorld) -> None:
    """What Wine shows of the pipe: the DACL it stores (it does not enforce it) and the name."""
    done = win.script("pipe_security.py", SCHEME)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    sid = seen["sid"]
    assert re.fullmatch(r"S-1-5-21(-\d+)+", sid)
    assert seen["pipe"] == f"\\\\.\\pipe\\playlink-{sid}-{SCHEME}"
    assert f"D:P(A;;GA;;;{sid})" in seen["sddl"]
    assert seen["second_listener"] == "conflict"


def test_the_windows_listener_applies_the_same_limits_schema_and_one_read_deadline(win: WinWorld) -> None:
    done = win.script("pipe_refusals.py", SCHEME)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    replies = seen["replies"]
    assert replies.pop("valid") == '{"ok": true}\n'
    assert "larger than 16 KiB" in replies.pop("oversized")
    assert "no complete message in time" in replies.pop("silent")
    assert "no complete message in time" in replies.pop("trickle")  # 8 s of bytes, a 1 s deadline
    assert all(reply.startswith('{"ok": false, "error": ') for reply in replies.values()), replies
    assert seen["taken"] == ["a.b.c"]
