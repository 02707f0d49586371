"""Windows registration, tested against a fake `winreg` of the same API (the real one is Windows-only)."""

from __future__ import annotations

import pytest

from launcher.errors import ClientUnavailable, ConfigError, PlatformError
from launcher.handoff import check_client_command
from launcher.platforms.windows import WindowsPlatform, command_line

from .fake_winreg import HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE, REG_SZ, FakeWinreg

EXE = "C:\\Program Files\\Playlink\\launcher.exe"


@pytest.fixture
def registry() -> FakeWinreg:
    return FakeWinreg()


def value(registry: FakeWinreg, path: str, name: str = "") -> object:
    with registry.OpenKey(HKEY_CURRENT_USER, path) as key:
        return registry.QueryValueEx(key, name)[0]


def test_register_writes_the_url_protocol_keys_with_marker_and_quoted_command(registry: FakeWinreg) -> None:
    WindowsPlatform(registry).register("arena", [EXE])
    assert value(registry, "Software\\Classes\\arena") == "URL:arena (Playlink)"
    assert value(registry, "Software\\Classes\\arena", "URL Protocol") == ""
    assert value(registry, "Software\\Classes\\arena", "PlaylinkLauncher") == "playlink-launcher-1"
    command = value(registry, "Software\\Classes\\arena\\shell\\open\\command")
    assert command == f'"{EXE}" open -- "%1"'


def test_status_reports_default_only_while_hkcr_resolves_to_our_command(registry: FakeWinreg) -> None:
    platform = WindowsPlatform(registry)
    assert not platform.status("arena").is_default
    platform.register("arena", [EXE])
    assert platform.status("arena").is_default


def test_unregister_removes_the_whole_tree_and_is_safe_twice(registry: FakeWinreg) -> None:
    platform = WindowsPlatform(registry)
    platform.register("arena", ["C:\\Python\\python.exe", "-m", "launcher"])
    assert platform.unregister("arena") is True
    assert platform.unregister("arena") is False
    assert [path for _root, path in registry.keys if "arena" in path] == []


def test_a_foreign_registration_is_neither_overwritten_nor_removed(registry: FakeWinreg) -> None:
    with registry.CreateKeyEx(HKEY_CURRENT_USER, "Software\\Classes\\arena\\shell\\open\\command") as key:
        registry.SetValueEx(key, "", 0, REG_SZ, '"C:\\Other\\game.exe" "%1"')
    platform = WindowsPlatform(registry)
    with pytest.raises(PlatformError, match="not ours"):
        platform.register("arena", [EXE])
    assert platform.unregister("arena") is False
    assert value(registry, "Software\\Classes\\arena\\shell\\open\\command") == '"C:\\Other\\game.exe" "%1"'


def test_a_machine_wide_handler_is_not_reported_as_ours(registry: FakeWinreg) -> None:
    with registry.CreateKeyEx(HKEY_LOCAL_MACHINE, "Software\\Classes\\arena\\shell\\open\\command") as key:
        registry.SetValueEx(key, "", 0, REG_SZ, '"C:\\Other\\game.exe" "%1"')
    state = WindowsPlatform(registry).status("arena")
    assert (state.installed, state.is_default) == (False, False)


@pytest.mark.parametrize("arg", ['C:\\a"b\\launcher.exe', "C:\\dir\\", "", "C:\\x\nnewline"])
def test_arguments_that_cannot_be_quoted_safely_are_refused(arg: str) -> None:
    with pytest.raises(PlatformError):
        command_line([arg])


@pytest.mark.parametrize("program", ["C:\\games\\start.bat", "C:\\games\\START.CMD", "run.cmd. "])
def test_batch_file_client_commands_are_refused(program: str, registry: FakeWinreg) -> None:
    with pytest.raises(ConfigError, match=r"cmd\.exe re-parses"):
        WindowsPlatform(registry).check_client_command([program, "--flag"])
    with pytest.raises(ClientUnavailable, match=r"cmd\.exe re-parses"):
        check_client_command([program], windows=True)


def test_an_exe_client_command_is_accepted(registry: FakeWinreg) -> None:
    WindowsPlatform(registry).check_client_command(["C:\\games\\arena.exe"])
