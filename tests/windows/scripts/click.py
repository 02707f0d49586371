"""Opens URLs the way the Windows shell does: the scheme's registered command line, `%1` replaced.

Usage (on Windows): click.py SCHEME URLS_JSON, a file holding the list of URLs. All URLs are
opened at once (each its own process, created from the command line read from the registry, no
shell); prints each exit code.
A command line Windows refuses to create (over 32,767 characters) prints -1.
"""

from __future__ import annotations

import json
import subprocess
import sys
import winreg


def main() -> None:
    scheme = sys.argv[1]
    with open(sys.argv[2], encoding="utf-8") as listed:
        urls = json.load(listed)
    path = f"Software\\Classes\\{scheme}\\shell\\open\\command"
    with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path) as key:
        template, _kind = winreg.QueryValueEx(key, "")
    processes: list[subprocess.Popen[bytes] | None] = []
    for url in urls:
        try:
            processes.append(subprocess.Popen(template.replace("%1", url)))
        except OSError as exc:
            print(f"{url[:60]}: {exc}", file=sys.stderr)
            processes.append(None)
    print(" ".join("-1" if p is None else str(p.wait(120)) for p in processes))


if __name__ == "__main__":
    main()
