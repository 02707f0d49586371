"""Reads or writes the registry keys of a scheme on Windows, printing JSON.

Usage: registry.py read SCHEME | registry.py foreign SCHEME COMMAND | registry.py machine SCHEME COMMAND
`read` prints the values under HKCU\\Software\\Classes\\SCHEME (and its command), or null when absent;
`foreign` writes another program's per-user handler; `machine` writes a machine-wide (HKLM) handler.
"""

from __future__ import annotations

import json
import sys
import winreg


def read(scheme: str) -> object:
    path = f"Software\\Classes\\{scheme}"
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path) as key:
            values = {}
            index = 0
            while True:
                try:
                    name, value, _kind = winreg.EnumValue(key, index)
                except OSError:
                    break
                values[name] = value
                index += 1
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path + "\\shell\\open\\command") as key:
            values["command"] = winreg.QueryValueEx(key, "")[0]
    except FileNotFoundError:
        return None
    return values


def write(root: int, scheme: str, command: str) -> None:
    with winreg.CreateKeyEx(root, f"Software\\Classes\\{scheme}", 0, winreg.KEY_WRITE) as key:
        winreg.SetValueEx(key, "URL Protocol", 0, winreg.REG_SZ, "")
    path = f"Software\\Classes\\{scheme}\\shell\\open\\command"
    with winreg.CreateKeyEx(root, path, 0, winreg.KEY_WRITE) as key:
        winreg.SetValueEx(key, "", 0, winreg.REG_SZ, command)


def main() -> None:
    action, scheme = sys.argv[1], sys.argv[2]
    if action == "read":
        print(json.dumps(read(scheme)))
    else:
        root = winreg.HKEY_CURRENT_USER if action == "foreign" else winreg.HKEY_LOCAL_MACHINE
        write(root, scheme, sys.argv[3])
        print("null")


if __name__ == "__main__":
    main()
