"""Writes one benchmark's section into docs/benchmarks.md, stamped with the machine and the date."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

REPORT_PATH = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Each section is written by the command it names and replaced when that command runs again.\n"
    "Targets are ratios measured side by side in one run, because these machines are shared.\n"
)


def machine_line() -> str:
    """Describe this machine in one line: CPU model, core count, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gib:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def write_section(name: str, command: str, body: str) -> None:
    """Replace (or append) the section called `name` in docs/benchmarks.md."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"## {name}\n\n"
        f"Command: `{command}`  \n"
        f"Machine: {machine_line()}  \n"
        f"Date: {stamp}\n\n"
        f"{body.strip()}\n"
    )
    text = REPORT_PATH.read_text() if REPORT_PATH.exists() else HEADER
    pattern = re.compile(rf"^## {re.escape(name)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    REPORT_PATH.parent.mkdir(parents=True, exist_ok=True)
    REPORT_PATH.write_text(text.rstrip("\n") + "\n")
