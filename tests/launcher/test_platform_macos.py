"""macOS registration and Apple Events, as far as Linux can show them.

Real here: the generated bundle (plist, the `/bin/sh` stub executed from an interpreter path with a
space), the event queue's logic, the refusal of schemes whose socket path cannot fit. macOS itself
(LaunchServices, Carbon, CoreFoundation) cannot run here: the tests that need it say that they mock
it, through `tests/launcher/fake_macos.py`. docs/launcher.md lists what a real Mac must still check.
"""

from __future__ import annotations

import os
import plistlib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from launcher import cli, config, endpoint
from launcher.errors import ConfigError, PlatformError
from launcher.platforms import macos_events
from launcher.platforms.macos import MacPlatform, bundle_id, info_plist
from launcher.platforms.macos_api import SIGNATURES, LaunchServices, MacApi
from launcher.platforms.macos_events import IDLE_QUIT_S, POLL_S, CarbonEventSource, serve

from .conftest import LOBBY, World
from .fake_macos import FakeClock, FakeFrameworks, FakeLaunchServices

MAC_RUNTIME_DIR = "/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/playlink-501"  # the per-user temp dir
URL_1 = "arena://join?v=1&lobby=https%3A%2F%2Flobby.example&token=a.b.c"
URL_2 = "arena://join?v=1&lobby=https%3A%2F%2Flobby.example&token=d.e.f"


def make_platform(tmp_path: Path, services: FakeLaunchServices | None = None, **kw: str) -> MacPlatform:
    """A MacPlatform writing under tmp_path, with LaunchServices mocked (no Mac here)."""
    missing = str(tmp_path / "no-lsregister")
    services = services or FakeLaunchServices()
    return MacPlatform(str(tmp_path), lsregister=missing, launch_services=services, **kw)  # type: ignore[arg-type]


def test_info_plist_claims_exactly_the_scheme_hides_from_the_dock_and_prefers_arm64() -> None:
    plist = info_plist("arena")
    assert plist["CFBundleURLTypes"] == [
        {"CFBundleURLName": "io.playlink.launcher.arena", "CFBundleURLSchemes": ["arena"]}
    ]
    assert plist["LSUIElement"] is True
    assert plist["CFBundleExecutable"] == "playlink-launcher"
    assert plist["LSArchitecturePriority"] == ["arm64", "x86_64"]


def test_bundle_ids_replace_characters_a_bundle_id_cannot_have() -> None:
    assert bundle_id("com.example+beta") == "io.playlink.launcher.com.example-beta"


def test_register_writes_a_loadable_bundle_and_makes_it_the_default_handler(tmp_path: Path) -> None:
    """LaunchServices is mocked: there is no Mac here."""
    services = FakeLaunchServices(handler="com.other.app")
    platform = make_platform(tmp_path, services)
    assert not platform.status("arena").is_default
    bundle = Path(platform.register("arena", ["/opt/bin/launcher"]))
    assert bundle == tmp_path / "Playlink-arena.app"
    with open(bundle / "Contents/Info.plist", "rb") as handle:
        assert plistlib.load(handle)["CFBundleIdentifier"] == "io.playlink.launcher.arena"
    assert os.access(bundle / "Contents/MacOS/playlink-launcher", os.X_OK)
    assert services.default_handler("arena") == "io.playlink.launcher.arena"
    assert platform.status("arena").is_default


def test_status_names_the_app_that_took_the_scheme_over(tmp_path: Path) -> None:
    """LaunchServices is mocked: there is no Mac here."""
    services = FakeLaunchServices()
    platform = make_platform(tmp_path, services)
    platform.register("arena", ["/opt/bin/launcher"])
    services.handlers["arena"] = "com.other.app"
    state = platform.status("arena")
    assert (state.installed, state.is_default) == (True, False)
    assert "LaunchServices opens arena:// with com.other.app" in state.describe()


def test_install_that_launch_services_refuses_fails_and_leaves_no_bundle(tmp_path: Path) -> None:
    """LaunchServices is mocked: there is no Mac here."""
    platform = make_platform(tmp_path, FakeLaunchServices(refuse=True))
    with pytest.raises(PlatformError, match="refused"):
        platform.register("arena", ["/opt/bin/launcher"])
    assert not (tmp_path / "Playlink-arena.app").exists()


def make_venv(parent: Path) -> str:
    """Create a real venv (no pip) under `parent` and return its interpreter's path."""
    venv = parent / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return str(venv / "bin" / "python")


def test_the_bundle_executable_starts_python_from_a_path_with_a_space(tmp_path: Path) -> None:
    """Runs the generated stub for real; only the Apple Event loop itself needs macOS."""
    python = make_venv(tmp_path / "Library" / "Application Support" / "it's $(game)")
    bundle = Path(make_platform(tmp_path, python=python).register("arena", ["/opt/bin/launcher"]))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # LaunchServices' minimal environment
    done = subprocess.run(
        [bundle / "Contents/MacOS/playlink-launcher", "-psn_0_12345"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.stderr == "launcher: the Apple Event loop runs only on macOS [unsupported]\n"
    assert done.returncode == 1


def test_unregister_removes_only_a_marked_bundle_and_is_safe_twice(tmp_path: Path) -> None:
    platform = make_platform(tmp_path)
    platform.register("arena", ["/opt/bin/launcher"])
    assert platform.unregister("arena") is True
    assert platform.unregister("arena") is False
    assert not (tmp_path / "Playlink-arena.app").exists()


def test_a_foreign_bundle_is_neither_overwritten_nor_removed(tmp_path: Path) -> None:
    foreign = tmp_path / "Playlink-arena.app/Contents"
    foreign.mkdir(parents=True)
    with open(foreign / "Info.plist", "wb") as handle:
        plistlib.dump({"CFBundleIdentifier": "com.other.app"}, handle)
    platform = make_platform(tmp_path)
    with pytest.raises(PlatformError, match="not ours"):
        platform.register("arena", ["/opt/bin/launcher"])
    assert platform.unregister("arena") is False
    assert foreign.exists()


def test_a_scheme_whose_socket_path_exceeds_sun_path_in_the_mac_temp_dir_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime directory is set to one of macOS's length; LaunchServices is mocked."""
    monkeypatch.setattr(endpoint, "runtime_dir", lambda: MAC_RUNTIME_DIR)
    platform = make_platform(tmp_path)
    longest = "a" * (endpoint.MAX_UNIX_PATH_BYTES - 1 - len(MAC_RUNTIME_DIR) - len("/.sock"))
    platform.check_scheme(longest)
    with pytest.raises(ConfigError, match="too long"):
        platform.check_scheme(longest + "b")
    with pytest.raises(ConfigError, match="too long"):
        platform.register(longest + "b", ["/opt/bin/launcher"])
    assert list(tmp_path.iterdir()) == []


def test_install_of_a_40_character_scheme_on_a_mac_is_refused_and_writes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The OS is said to be macOS (mocked LaunchServices) with a Mac-length runtime directory."""
    from launcher import platforms

    monkeypatch.setattr(endpoint, "runtime_dir", lambda: MAC_RUNTIME_DIR)
    monkeypatch.setattr(platforms, "current", lambda: make_platform(world.root))
    scheme = "com.example.arena-championship-edition-2"
    assert len(scheme) == 40
    assert cli.main(["install", scheme, "--lobby", LOBBY, "--", *world.client_command()]) == 1
    assert "too long" in capsys.readouterr().err
    assert not os.path.exists(config.config_path(scheme))
    assert not (world.root / f"Playlink-{scheme}.app").exists()


class ScriptedSource:
    """An event source standing in for macOS's Carbon event loop: `script[n]` is what poll n returns."""

    def __init__(self, clock: FakeClock, script: dict[int, list[str]], on_poll: object = None) -> None:
        self.clock = clock
        self.script = script
        self.on_poll = on_poll
        self.polls = 0

    def wait(self, timeout_s: float) -> list[str]:
        self.polls += 1
        self.clock.now += timeout_s
        if self.on_poll is not None:
            self.on_poll(self.polls)  # type: ignore[operator]
        time.sleep(0.001)
        return self.script.get(self.polls, [])


def test_a_second_click_during_a_hand_off_is_received_and_served_after_it() -> None:
    clock = FakeClock()
    first_running, release = threading.Event(), threading.Event()
    handled: list[str] = []
    received_during_first: list[int] = []

    def hand_off(url: str) -> int:
        handled.append(url)
        if url == URL_1:
            first_running.set()
            assert release.wait(30)
        return 0

    def on_poll(poll: int) -> None:
        if poll == 2:
            assert first_running.wait(30)
        if poll == 3:
            received_during_first.append(len(handled))
        if poll == 3 + int(4 * IDLE_QUIT_S / POLL_S):  # long past the idle time, still handing off
            release.set()

    source = ScriptedSource(clock, {1: [URL_1], 3: [URL_2]}, on_poll)
    assert serve(source, hand_off, clock=clock) == 0
    assert handled == [URL_1, URL_2]
    assert received_during_first == [1]
    assert release.is_set()


def test_urls_are_served_in_arrival_order_and_a_failure_sets_the_exit_code() -> None:
    clock = FakeClock()
    urls = [f"{URL_1}{n}" for n in range(5)]
    handled: list[str] = []

    def hand_off(url: str) -> int:
        handled.append(url)
        return 3 if url == urls[2] else 0

    assert serve(ScriptedSource(clock, {1: urls[:3], 2: urls[3:]}), hand_off, clock=clock) == 3
    assert handled == urls


def test_a_hand_off_that_raises_counts_as_a_failure_and_the_next_url_is_still_served() -> None:
    clock = FakeClock()
    handled: list[str] = []

    def hand_off(url: str) -> int:
        handled.append(url)
        if url == URL_1:
            raise RuntimeError("boom")
        return 0

    assert serve(ScriptedSource(clock, {1: [URL_1, URL_2]}), hand_off, clock=clock) == 1
    assert handled == [URL_1, URL_2]


def test_opened_without_a_url_the_loop_quits_after_the_idle_time() -> None:
    clock = FakeClock()
    source = ScriptedSource(clock, {})
    assert serve(source, lambda url: pytest.fail("nothing to hand off"), clock=clock) == 0
    assert IDLE_QUIT_S <= clock.now <= IDLE_QUIT_S + POLL_S


def test_the_idle_time_restarts_after_the_last_hand_off() -> None:
    clock = FakeClock()
    source = ScriptedSource(clock, {1: [URL_1], 8: [URL_2]})
    assert serve(source, lambda url: 0, clock=clock) == 0
    assert 8 * POLL_S + IDLE_QUIT_S <= clock.now <= 8 * POLL_S + IDLE_QUIT_S + POLL_S


class HandOffs(list[str]):
    """A hand-off that records each URL and succeeds."""

    def __call__(self, url: str) -> int:
        self.append(url)
        return 0


def test_carbon_events_oapp_then_two_urls_reach_the_hand_off_in_order() -> None:
    """Mocks macOS: Carbon's event queue and handler dispatch are played by FakeFrameworks."""
    clock = FakeClock()
    frameworks = FakeFrameworks([("oapp", None), ("GURL", URL_1), ("rapp", None), ("GURL", URL_2)], clock)
    handled = HandOffs()
    assert serve(CarbonEventSource(MacApi(frameworks.load)), handled, clock=clock) == 0
    assert handled == [URL_1, URL_2]
    assert frameworks.processed == [("oapp", 0), ("GURL", 0), ("rapp", 0), ("GURL", 0)]
    assert frameworks.unreleased_events == set()


def test_an_oversized_url_event_is_cut_and_then_refused_by_the_parser() -> None:
    """Mocks macOS: Carbon is played by FakeFrameworks."""
    clock = FakeClock()
    frameworks = FakeFrameworks([("GURL", URL_1 + "x" * 20_000)], clock)
    handled = HandOffs()
    serve(CarbonEventSource(MacApi(frameworks.load)), handled, clock=clock)
    assert [len(url) for url in handled] == [macos_events.MAX_URL_BYTES]
    assert cli.open_url(handled[0]) == 2


def test_a_refused_apple_event_handler_is_an_error_not_a_silent_hang() -> None:
    """Mocks macOS: AEInstallEventHandler's failure is played by FakeFrameworks."""
    frameworks = FakeFrameworks()
    frameworks.install_status = -1
    with pytest.raises(PlatformError, match="Apple Event handler"):
        CarbonEventSource(MacApi(frameworks.load))


def test_launch_services_calls_set_and_read_the_default_and_release_every_string() -> None:
    """Mocks macOS: LaunchServices and CoreFoundation are played by FakeFrameworks."""
    frameworks = FakeFrameworks()
    services = LaunchServices(MacApi(frameworks.load))
    assert services.default_handler("arena") is None
    services.set_default_handler("arena", "io.playlink.launcher.Arena")
    assert services.default_handler("arena") == "io.playlink.launcher.arena"
    assert frameworks.unreleased_strings() == set()


def test_every_framework_function_is_declared_and_only_declared_ones_are_reachable() -> None:
    """Mocks macOS: FakeFrameworks refuses any call whose argtypes/restype were not set."""
    frameworks = FakeFrameworks()
    api = MacApi(frameworks.load)
    declared = {name for functions in SIGNATURES.values() for name in functions}
    assert set(frameworks.functions) == declared
    for function in frameworks.functions.values():
        assert isinstance(function.argtypes, list)
    with pytest.raises(AttributeError, match="not declared"):
        api.RunApplicationEventLoop  # noqa: B018


def test_the_apple_event_loop_refuses_to_run_off_a_mac(capsys: pytest.CaptureFixture[str]) -> None:
    assert macos_events.main() == 1
    assert capsys.readouterr().err == "launcher: the Apple Event loop runs only on macOS [unsupported]\n"



def test_on_a_mac_the_runtime_dir_is_the_per_user_temp_dir_whatever_xdg_runtime_dir_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mocks macOS: `sys.platform` and `confstr(_CS_DARWIN_USER_TEMP_DIR)`, which Linux lacks.

    LaunchServices starts the launcher with a minimal environment, so an `XDG_RUNTIME_DIR` exported in
    a shell reaches a client started from Terminal but not the launcher: both must ignore it.
    """
    user_temp = "/private/var/folders/zz/abc123/T/"
    asked: list[object] = []

    def confstr(name: object) -> str:
        asked.append(name)
        return user_temp

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(os, "confstr", confstr)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/501")
    assert endpoint.runtime_dir() == "/private/var/folders/zz/abc123/T/playlink"
    assert asked == [65537]  # _CS_DARWIN_USER_TEMP_DIR
