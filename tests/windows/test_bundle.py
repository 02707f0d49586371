"""The shipped Windows launcher folder (`launcher bundle windows`) in a fresh prefix with no other Python."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.wine import REPO, WinePython, windows_path

from .conftest import FAKE_CLIENT, LOBBY, SCHEME, SCRIPTS, TOKEN, VALID_URL


def test_the_shipped_folder_installs_opens_starts_the_client_and_uninstalls_in_a_fresh_prefix(
    lane: WinePython, tmp_path: Path
) -> None:
    prefix = tmp_path / "fresh-prefix"
    shutil.copytree(WinePython.from_environment().prefix, prefix, symlinks=True)
    fresh = WinePython(lane.cache, prefix)
    folder = prefix / "drive_c" / "Games" / "Arena" / "launcher"
    built = subprocess.run(
        [sys.executable, "-m", "launcher", "bundle", "windows", "--embed", str(lane.cache / "python"),
         "--out", str(folder)],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert not (folder / "python311._pth").read_text().count("site")
    python = folder / "python.exe"
    records = tmp_path / "records"
    records.mkdir()
    env = fresh.env(pythonpath=False)
    shipped = "C:\\Games\\Arena\\launcher\\python.exe"
    client = [shipped, windows_path(FAKE_CLIENT), SCHEME, windows_path(records)]
    fresh.start_server()
    try:
        install = fresh.run("-m", "launcher", "install", SCHEME, "--lobby", LOBBY, "--start-wait", "30",
                            "--", *client, exe=python, env=env)  # fmt: skip
        assert install.returncode == 0, install.stderr
        registry = windows_path(SCRIPTS / "registry.py")
        values = json.loads(fresh.run(registry, "read", SCHEME, exe=python, env=env).stdout)
        assert re.fullmatch(
            r'"C:\\Games\\Arena\\launcher\\pythonw\.exe" "-P" "-m" "launcher" open -- "%1"', values["command"]
        )
        urls = tmp_path / "urls.json"
        urls.write_text(json.dumps([VALID_URL]))
        click = fresh.run(windows_path(SCRIPTS / "click.py"), SCHEME, windows_path(urls), exe=python, env=env)
        assert click.stdout.split() == ["0"], click.stderr
        assert len(list(records.glob("started-*.json"))) == 1
        assert [json.loads(line) for line in (records / "joins.jsonl").read_text().splitlines()] == [
            {"lobby": LOBBY, "token": TOKEN}
        ]
        assert fresh.run("-m", "launcher", "uninstall", SCHEME, exe=python, env=env).returncode == 0
        assert fresh.run(registry, "read", SCHEME, exe=python, env=env).stdout.strip() == "null"
    finally:
        fresh.stop_server()
