"""A real X display for tests that need one (xdg-open, a headed browser): Xvfb on a free number."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest


@contextlib.contextmanager
def xvfb(screen: str = "1280x900x24") -> Iterator[str]:
    """Run Xvfb for the duration and yield its DISPLAY; failing to start it fails the test."""
    read_end, write_end = os.pipe()
    try:
        server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-nolisten", "tcp", "-screen", "0", screen],
            pass_fds=[write_end],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        pytest.fail(f"cannot start Xvfb (Debian package xvfb, installed by ./dev test): {exc}")
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            pytest.fail("Xvfb started but reported no display number")
        yield f":{number}"
    finally:
        server.kill()
        server.wait()
