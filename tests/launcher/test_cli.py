"""`launcher open` hands the join off, starting exactly one client when none listens; exit codes hold."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from launcher import config

from .conftest import LOBBY, SCHEME, TOKEN, VALID_URL, World


def test_a_listening_client_gets_the_join_and_open_exits_0(installed: World) -> None:
    installed.start_client()
    done = installed.launcher("open", "--", VALID_URL)
    assert (done.returncode, done.stderr) == (0, "")
    assert installed.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_when_nothing_listens_the_client_is_started_and_then_gets_the_join(installed: World) -> None:
    done = installed.launcher("open", "--", VALID_URL)
    assert (done.returncode, done.stderr) == (0, "")
    assert installed.joins() == [{"lobby": LOBBY, "token": TOKEN}]
    [started] = installed.started()
    assert started["argv"] == installed.client_command()[1:]


def test_the_started_client_has_neither_token_nor_url_in_argv_or_environment(installed: World) -> None:
    assert installed.launcher("open", "--", VALID_URL).returncode == 0
    [started] = installed.started()
    seen = repr(started["argv"]) + repr(started["environ"])
    assert TOKEN not in seen
    assert "join?" not in seen


def test_two_rapid_opens_start_one_client_and_both_joins_arrive(installed: World) -> None:
    command = [sys.executable, "-m", "launcher", "open", "--", VALID_URL]
    first = subprocess.Popen(command, env=installed.env, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, env=installed.env, stderr=subprocess.PIPE, text=True)
    assert first.wait(30) == 0, first.stderr.read()  # type: ignore[union-attr]
    assert second.wait(30) == 0, second.stderr.read()  # type: ignore[union-attr]
    assert len(installed.started()) == 1
    assert len(installed.joins()) == 2


def test_exit_3_with_a_clear_line_when_the_client_never_listens(world: World) -> None:
    command = world.client_command("--never-listen")
    config.save(config.Config(SCHEME, [LOBBY], command, client_start_wait_s=0.5))
    done = world.launcher("open", "--", VALID_URL)
    assert done.returncode == 3
    assert "did not listen within 0.5 s" in done.stderr
    assert done.stderr.count("\n") == 1
    assert TOKEN not in done.stderr


def test_exit_3_when_the_client_command_cannot_be_started(world: World) -> None:
    config.save(config.Config(SCHEME, [LOBBY], [str(world.root / "missing-game")]))
    done = world.launcher("open", "--", VALID_URL)
    assert done.returncode == 3
    assert "cannot start the game client" in done.stderr


def test_exit_3_when_the_client_exits_before_listening(world: World) -> None:
    config.save(config.Config(SCHEME, [LOBBY], [sys.executable, "-c", "raise SystemExit(7)"]))
    done = world.launcher("open", "--", VALID_URL)
    assert done.returncode == 3
    assert "exited (status 7)" in done.stderr


def test_a_scheme_that_is_not_installed_is_refused_with_exit_2(world: World) -> None:
    done = world.launcher("open", "--", VALID_URL)
    assert done.returncode == 2
    assert "[not_configured]" in done.stderr


def test_a_config_writable_by_others_is_refused_not_trusted(installed: World) -> None:
    path = config.config_path(SCHEME)
    os.chmod(path, 0o666)
    done = installed.launcher("open", "--", VALID_URL)
    assert done.returncode == 1
    assert "writable by another user" in done.stderr
    assert installed.started() == []


def test_install_writes_a_0600_config_and_status_reports_the_default_handler(world: World) -> None:
    lobby = "https://LOBBY.example/"
    done = world.launcher("install", SCHEME, "--lobby", lobby, "--", *world.client_command())
    assert done.returncode == 0, done.stderr
    path = config.config_path(SCHEME)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    assert config.load(SCHEME).trusted_lobbies == [LOBBY]
    status = world.launcher("status", SCHEME)
    assert (status.returncode, "default handler (" in status.stdout) == (0, True)


def test_install_refuses_schemes_of_the_browser_or_the_os(world: World) -> None:
    for scheme in ["https", "file", "ms-msdt", "Arena"]:
        done = world.launcher("install", scheme, "--lobby", LOBBY, "--", sys.executable)
        assert done.returncode == 1, scheme
        assert done.stderr.startswith("launcher: ")


def test_uninstall_removes_everything_and_is_safe_to_run_twice(world: World) -> None:
    assert world.launcher("install", SCHEME, "--lobby", LOBBY, "--", sys.executable).returncode == 0
    first, second = world.launcher("uninstall", SCHEME), world.launcher("uninstall", SCHEME)
    assert (first.returncode, first.stdout) == (0, f"uninstalled {SCHEME}://\n")
    assert (second.returncode, second.stdout) == (0, f"nothing to uninstall for {SCHEME}://\n")
    assert world.launcher("status", SCHEME).returncode == 1


def test_the_open_path_imports_neither_json_socket_argparse_nor_subprocess(installed: World) -> None:
    installed.start_client()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "launcher", "open", "--", VALID_URL],
        env=installed.env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert imported.isdisjoint({"json", "socket", "argparse", "subprocess", "asyncio"})


def test_ipc_exports_exactly_its_public_surface() -> None:
    from launcher import ipc

    assert sorted(ipc.__all__) == ["Join", "JoinListener", "MAX_MESSAGE_BYTES", "deliver"]
