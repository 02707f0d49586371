"""deploy/playlink-lobby.service: `systemd-analyze verify` accepts it without a warning, and it has
what an operator relies on (its own user, restarts, a file limit, ordering, hardening, [Install]).

Only verified, not run: no systemd manages services on the test machine."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.lobby import ROOT

UNIT = ROOT / "deploy" / "playlink-lobby.service"
INSTALLED_LOBBY = "/opt/playlink/.venv/bin/lobby"


def settings(text: str) -> dict[str, list[str]]:
    """`Key=value` lines as {key: [values]}, comments skipped."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, equals, value = line.partition("=")
        if equals and not line.startswith("#"):
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_analyze_verifies_the_unit_without_a_warning(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
    text = UNIT.read_text()
    assert text.count(INSTALLED_LOBBY) == 1
    unit = tmp_path / UNIT.name
    unit.write_text(text.replace(INSTALLED_LOBBY, str(Path(sys.executable).parent / "lobby")))
    done = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).strip() == ""


def test_the_unit_runs_as_its_own_user_restarts_and_is_hardened() -> None:
    text = UNIT.read_text()
    found = settings(text)
    assert found["User"] == ["playlink"]
    assert found["Restart"] == ["on-failure"]
    assert int(found["LimitNOFILE"][0]) >= 65536
    assert "redis-server.service" in found["After"][0]
    assert found["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert int(found["TimeoutStopSec"][0]) > 35  # the drain: 30 s for requests, 35 s until a kill
    for option in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert found[option] == ["yes"], option
    assert found["ProtectSystem"] == ["strict"]
    assert "[Install]" in text
    assert found["WantedBy"] == ["multi-user.target"]
