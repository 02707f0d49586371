"""Plays the browser's part for a native messaging host on Windows, printing JSON.

Usage: native_host.py read HOST | native_host.py send HOST CALLER MESSAGE_FILE | native_host.py foreign HOST
`read` prints, per browser key `HKCU\\Software\\<browser>\\NativeMessagingHosts\\HOST`, its values (or
null). `send` finds the manifest the way Chrome does (the Chrome key's default value), checks that
CALLER (`chrome-extension://<id>/`) is allowed, starts the manifest's `path` the way Chrome does
(`cmd.exe /d /s /c ""<path>" <CALLER> --parent-window=0"`) with the bytes of MESSAGE_FILE on its
stdin, and prints the framed replies it wrote. `foreign` writes another program's Chrome key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import winreg

ROOTS = (
    "Software\\Google\\Chrome\\NativeMessagingHosts",
    "Software\\Chromium\\NativeMessagingHosts",
    "Software\\Microsoft\\Edge\\NativeMessagingHosts",
)


def values(path: str) -> dict[str, str] | None:
    try:
        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, path) as key:
            found, index = {}, 0
            while True:
                try:
                    name, value, _kind = winreg.EnumValue(key, index)
                except OSError:
                    return found
                found[name] = value
                index += 1
    except FileNotFoundError:
        return None


def send(host: str, caller: str, message_file: str) -> object:
    manifest_path = (values(f"{ROOTS[0]}\\{host}") or {}).get("")
    if not manifest_path:
        return {"error": "no Chrome key"}
    with open(manifest_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    if manifest["name"] != host or caller not in manifest["allowed_origins"]:
        return {"error": "the manifest does not allow this caller"}
    with open(message_file, "rb") as handle:
        message = handle.read()
    comspec = os.environ.get("COMSPEC", "cmd.exe")
    line = f'{comspec} /d /s /c ""{manifest["path"]}" {caller} --parent-window=0"'
    done = subprocess.run(line, input=message, capture_output=True, timeout=90, check=False)
    replies, out = [], done.stdout
    while len(out) >= 4:
        length = int.from_bytes(out[:4], "little")
        replies.append(json.loads(out[4 : 4 + length]))
        out = out[4 + length :]
    return {"replies": replies, "rest": out.decode("latin-1"), "stderr": done.stderr.decode("latin-1")}


def main() -> None:
    action, host = sys.argv[1], sys.argv[2]
    if action == "read":
        print(json.dumps({root: values(f"{root}\\{host}") for root in ROOTS}))
    elif action == "send":
        print(json.dumps(send(host, sys.argv[3], sys.argv[4])))
    else:
        with winreg.CreateKeyEx(winreg.HKEY_CURRENT_USER, f"{ROOTS[0]}\\{host}", 0, winreg.KEY_WRITE) as key:
            winreg.SetValueEx(key, "", 0, winreg.REG_SZ, "C:\\Other\\host.json")
        print("null")


if __name__ == "__main__":
    main()
