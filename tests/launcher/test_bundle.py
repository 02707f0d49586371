"""The single-file Linux launcher (`launcher bundle linux`): installed from the .pyz, a real click works."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from launcher.platforms.linux import LinuxPlatform

from .conftest import LOBBY, SCHEME, TOKEN, VALID_URL, World
from .test_platform_linux import display  # noqa: F401 - the Xvfb fixture


def test_the_pyz_runs_on_the_system_python_registers_itself_and_a_click_reaches_the_client(
    world: World, display: str  # noqa: F811
) -> None:
    pyz = world.root / "Arena Game" / "launcher.pyz"
    pyz.parent.mkdir()
    built = world.launcher("bundle", "linux", "--out", str(pyz))
    assert built.returncode == 0, built.stderr
    env = {name: value for name, value in world.env.items() if name != "PYTHONPATH"}
    system_python = shutil.which("python3") or sys.executable
    install = subprocess.run(
        [system_python, str(pyz), "install", SCHEME, "--lobby", LOBBY, "--", *world.client_command()],
        env=env, cwd=world.root, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    with open(LinuxPlatform().desktop_path(SCHEME)) as handle:
        desktop = handle.read()
    stub = LinuxPlatform().stub_path(SCHEME)
    assert str(pyz) in desktop + (Path(stub).read_text() if Path(stub).exists() else "")
    world.start_client()
    done = subprocess.run(
        ["xdg-open", VALID_URL], env=dict(env, DISPLAY=display), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert world.joins() == [{"lobby": LOBBY, "token": TOKEN}]
