"""Windows command lines and client commands: the pure checks, runnable anywhere.

The registry itself is tested for real on the official Windows CPython under Wine, in tests/windows/.
"""

from __future__ import annotations

import pytest

from launcher.errors import ClientUnavailable, ConfigError, PlatformError
from launcher.handoff import check_client_command
from launcher.platforms.windows import WindowsPlatform, batch_file, command_line

PYTHONW = "C:\\Program Files\\Arena\\launcher\\pythonw.exe"


def test_the_registered_command_quotes_every_argument_and_ends_with_the_url_placeholder() -> None:
    line = command_line([PYTHONW, "-m", "launcher"])
    assert line == f'"{PYTHONW}" "-m" "launcher" open -- "%1"'


@pytest.mark.parametrize("arg", ['C:\\a"b\\launcher.exe', "C:\\dir\\", "", "C:\\x\nnewline"])
def test_arguments_that_cannot_be_quoted_safely_are_refused(arg: str) -> None:
    with pytest.raises(PlatformError):
        command_line([arg])


@pytest.mark.parametrize("program", ["C:\\games\\start.bat", "C:\\games\\START.CMD", "run.cmd. "])
def test_batch_file_client_commands_are_refused(program: str) -> None:
    with pytest.raises(ConfigError, match=r"cmd\.exe re-parses"):
        WindowsPlatform(registry=object()).check_client_command([program, "--flag"])
    with pytest.raises(ClientUnavailable, match=r"cmd\.exe re-parses"):
        check_client_command([program], windows=True)


def test_an_exe_client_command_is_accepted() -> None:
    WindowsPlatform(registry=object()).check_client_command(["C:\\games\\arena.exe"])


def test_the_native_host_batch_file_quotes_every_argument_and_doubles_percent_signs() -> None:
    text = batch_file(["C:\\100% Games\\pythonw.exe", "-P", "-m", "launcher"], "arena")
    assert text.split("\r\n") == [
        "@echo off",
        "rem playlink-launcher-1",
        '"C:\\100%% Games\\pythonw.exe" "-P" "-m" "launcher" native-host arena %*',
        "",
    ]


@pytest.mark.parametrize("arg", ['C:\\a"b\\pythonw.exe', "C:\\dir\\", "", "C:\\x\nnewline"])
def test_batch_file_arguments_that_cannot_be_quoted_safely_are_refused(arg: str) -> None:
    with pytest.raises(PlatformError):
        batch_file([arg], "arena")
