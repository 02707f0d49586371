"""Run a command that sees one directory read-only (`unshare --mount`, then this module, DIR, CMD...).

Inside its own mount namespace (so the rest of the machine still sees the directory writable) the
directory is bind-mounted onto itself and remounted read-only, as a Kubernetes Secret volume is;
root cannot write there either. Then the command replaces this process (same pid, same signals).
"""

from __future__ import annotations

import os
import subprocess
import sys


def read_only_prefix(directory: str) -> tuple[str, ...]:
    """The argv prefix that runs what follows it with `directory` read-only."""
    return ("unshare", "--mount", "--propagation", "private", "--", sys.executable, "-m", __name__, directory)


def main(directory: str, command: list[str]) -> None:
    """Make `directory` read-only in this mount namespace, then exec `command`."""
    subprocess.run(["mount", "--bind", directory, directory], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", directory], check=True)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
