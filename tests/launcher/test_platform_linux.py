"""Linux registration: a hidden, marked `.desktop` file that real `xdg-mime` and `xdg-open` use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.errors import PlatformError
from launcher.platforms import launcher_command, stub
from launcher.platforms.linux import LinuxPlatform, desktop_entry, exec_line, quote_exec_argument
from tests.support.display import xvfb

from .conftest import LOBBY, SCHEME, TOKEN, VALID_URL, World


def unquote_exec(value: str) -> list[str]:
    """Split an Exec value the way the Desktop Entry spec says a desktop environment must."""
    value = value.replace("\\\\", "\\")  # the string-value escape comes first
    args: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            args.append("".join(current))
            current = []
        else:
            current.append(char)
    args.append("".join(current))
    return [arg.replace("%%", "%") for arg in args]


@pytest.mark.parametrize(
    "path",
    [
        "/opt/game/bin/launcher",
        "/home/Jo Smith/.venv/bin/launcher",
        '/tmp/a"b/launcher',
        "/tmp/$(id)/`id`/launcher",
        "/tmp/100%/back\\slash/launcher",
        "/tmp/semi;colon&amp|pipe/launcher",
    ],
)
def test_exec_line_round_trips_through_desktop_entry_unquoting(path: str) -> None:
    assert unquote_exec(exec_line([path, "-m", "launcher"])) == [path, "-m", "launcher", "open", "--", "%u"]


@pytest.mark.parametrize("arg", ["", "a\nb", "tab\there", "nul\0"])
def test_exec_arguments_with_control_characters_are_refused(arg: str) -> None:
    with pytest.raises(PlatformError):
        quote_exec_argument(arg)


def test_the_desktop_entry_is_hidden_claims_the_scheme_and_carries_the_marker() -> None:
    text = desktop_entry(SCHEME, ["/opt/bin/launcher"])
    assert "NoDisplay=true\n" in text
    assert f"MimeType=x-scheme-handler/{SCHEME};\n" in text
    assert "Exec=/opt/bin/launcher open -- %u\n" in text
    assert "X-Playlink-Launcher=playlink-launcher-1\n" in text


def test_desktop_file_validate_accepts_the_entry(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "playlink-arena.desktop")
    with open(path, "w") as handle:
        handle.write(desktop_entry(SCHEME, [sys.executable, "-m", "launcher"]))
    done = subprocess.run(["desktop-file-validate", path], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_register_makes_it_the_default_per_real_xdg_mime_and_unregister_undoes_it(world: World) -> None:
    platform = LinuxPlatform()
    path = platform.register(SCHEME, ["/opt/bin/launcher"])
    assert path == str(world.home / ".local/share/applications/playlink-arena.desktop")
    assert platform.status(SCHEME).is_default
    assert platform.unregister(SCHEME) is True
    assert not os.path.exists(path)
    assert not platform.status(SCHEME).is_default
    assert platform.unregister(SCHEME) is False


def test_a_desktop_file_without_our_marker_is_neither_overwritten_nor_removed(world: World) -> None:
    platform = LinuxPlatform()
    path = platform.desktop_path(SCHEME)
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write("[Desktop Entry]\nType=Application\nName=Someone else\nExec=/bin/true\n")
    with pytest.raises(PlatformError, match="not ours"):
        platform.register(SCHEME, ["/opt/bin/launcher"])
    platform.unregister(SCHEME)
    assert os.path.exists(path)


@pytest.fixture(scope="module")
def display():
    """A real X display (Xvfb) for xdg-open; failing to start one fails the test."""
    with xvfb("320x240x24") as number:
        yield number


def test_xdg_open_of_a_join_url_reaches_the_launcher_and_the_listening_client(
    world: World, display: str
) -> None:
    install = world.launcher("install", SCHEME, "--lobby", LOBBY, "--", *world.client_command())
    assert install.returncode == 0, install.stderr
    with open(LinuxPlatform().desktop_path(SCHEME)) as handle:
        assert f"Exec={launcher_command()[0]} " in handle.read()
    world.start_client()
    env = dict(world.env, DISPLAY=display)
    done = subprocess.run(["xdg-open", VALID_URL], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert world.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_xdg_open_of_a_hostile_url_reaches_the_launcher_and_is_refused(world: World, display: str) -> None:
    assert world.launcher("install", SCHEME, "--lobby", LOBBY, "--", *world.client_command()).returncode == 0
    env = dict(world.env, DISPLAY=display)
    hostile = VALID_URL.replace("lobby.example", "evil.example")
    done = subprocess.run(["xdg-open", hostile], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "not in the trusted list" in done.stderr
    assert (world.started(), world.joins()) == ([], [])


def make_venv(parent: Path) -> str:
    """Create a real venv (no pip) under `parent` and return its interpreter's path."""
    venv = parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return str(venv / "bin" / "python")


def install_from(python: str, world: World) -> str:
    """Install the scheme with `python -m launcher` and return the desktop entry's Exec value."""
    install = subprocess.run(
        [python, "-m", "launcher", "install", SCHEME, "--lobby", LOBBY, "--", *world.client_command()],
        env=world.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    with open(LinuxPlatform().desktop_path(SCHEME)) as handle:
        return next(line for line in handle if line.startswith("Exec="))[len("Exec=") :].strip()


def test_xdg_open_reaches_a_launcher_whose_venv_path_has_a_space(world: World, display: str) -> None:
    exec_value = install_from(make_venv(world.root / "My Games" / "Application Support"), world)
    assert " " not in unquote_exec(exec_value)[0], "the program an Exec splitter sees must be whole"
    world.start_client()
    env = dict(world.env, DISPLAY=display)
    done = subprocess.run(["xdg-open", VALID_URL], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert world.joins() == [{"lobby": LOBBY, "token": TOKEN}]
    assert world.launcher("uninstall", SCHEME).returncode == 0
    assert not os.path.exists(LinuxPlatform().stub_path(SCHEME))



def test_a_launcher_package_lying_in_the_working_directory_is_not_what_a_click_runs(world: World) -> None:
    exec_value = install_from(make_venv(world.root / "env"), world)
    planted = world.root / "Downloads" / "launcher"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("")
    (planted / "__main__.py").write_text(f"open({str(world.records / 'planted')!r}, 'w')\n")
    argv = [VALID_URL if arg == "%u" else arg for arg in unquote_exec(exec_value)]
    argv[argv.index(VALID_URL)] = VALID_URL.replace("lobby.example", "evil.example")
    done = subprocess.run(argv, cwd=planted.parent, env=world.env, capture_output=True, text=True, timeout=30)
    assert not (world.records / "planted").exists()
    assert (done.returncode, "not in the trusted list" in done.stderr) == (2, True)


@pytest.mark.parametrize(
    "arg",
    ["/opt/My Games/python", "it's", '"', "$(id)", "`id`", "a\nb", "%u", "*", "-c", "é", "\\", "'\\''"],
)
def test_the_stub_passes_every_argument_and_the_url_through_sh_unchanged(tmp_path: Path, arg: str) -> None:
    script = tmp_path / "stub"
    stub.write_stub(str(script), stub.sh_stub(["/usr/bin/printf", "%s\\0", arg], comment="t", marker="m"))
    url = "arena://join?v=1&x=$(id)&y=`id`;z=*"
    done = subprocess.run([str(script), "open", "--", url], capture_output=True, check=True, timeout=30)
    assert done.stdout.split(b"\0")[:-1] == [arg.encode(), b"open", b"--", url.encode()]
    assert stub.has_marker(str(script), "m")


def test_a_stub_argument_with_a_nul_is_refused() -> None:
    with pytest.raises(PlatformError):
        stub.sh_quote("a\0b")


def test_install_refuses_a_scheme_whose_socket_path_cannot_fit_and_writes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from launcher import cli, config, endpoint

    monkeypatch.setattr(endpoint, "runtime_dir", lambda: "/run/user/1000/" + "d" * 60 + "/playlink")
    scheme = "com.example.a-rather-long-game-name"
    assert cli.main(["install", scheme, "--lobby", LOBBY, "--", *world.client_command()]) == 1
    assert "too long" in capsys.readouterr().err
    assert not os.path.exists(config.config_path(scheme))
    assert not os.path.exists(LinuxPlatform().desktop_path(scheme))
    assert cli.main(["install", SCHEME, "--lobby", LOBBY, "--", *world.client_command()]) == 0
