"""A fake `winreg` with the same API subset the launcher uses, backed by dicts.

Keys are case-insensitive like the real registry; HKEY_CLASSES_ROOT is the merged view of
HKCU\\Software\\Classes over HKLM\\Software\\Classes, as on Windows.
"""

from __future__ import annotations

HKEY_CURRENT_USER = "HKCU"
HKEY_LOCAL_MACHINE = "HKLM"
HKEY_CLASSES_ROOT = "HKCR"
REG_SZ = 1
KEY_READ = 0x20019
KEY_WRITE = 0x20006


class Key:
    def __init__(self, registry: FakeWinreg, root: str, path: str) -> None:
        self.registry, self.root, self.path = registry, root, path

    def Close(self) -> None:
        pass

    def __enter__(self) -> Key:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class FakeWinreg:
    HKEY_CURRENT_USER = HKEY_CURRENT_USER
    HKEY_LOCAL_MACHINE = HKEY_LOCAL_MACHINE
    HKEY_CLASSES_ROOT = HKEY_CLASSES_ROOT
    REG_SZ = REG_SZ
    KEY_READ = KEY_READ
    KEY_WRITE = KEY_WRITE

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], dict[str, tuple[object, int]]] = {}

    def _full(self, key: object, sub_key: str) -> tuple[str, str]:
        root, base = (key.root, key.path) if isinstance(key, Key) else (key, "")
        path = f"{base}\\{sub_key}" if base and sub_key else base or sub_key
        if root == HKEY_CLASSES_ROOT:
            for real in (HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE):
                candidate = (real, f"Software\\Classes\\{path}".lower())
                if candidate in self.keys:
                    return candidate
            return (HKEY_CURRENT_USER, f"Software\\Classes\\{path}".lower())
        return (root, path.lower())

    def CreateKeyEx(self, key: object, sub_key: str, reserved: int = 0, access: int = KEY_WRITE) -> Key:
        root, path = self._full(key, sub_key)
        parts = path.split("\\")
        for end in range(1, len(parts) + 1):
            self.keys.setdefault((root, "\\".join(parts[:end])), {})
        return Key(self, root, path)

    def OpenKey(self, key: object, sub_key: str, reserved: int = 0, access: int = KEY_READ) -> Key:
        root, path = self._full(key, sub_key)
        if (root, path) not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        return Key(self, root, path)

    def SetValueEx(self, key: Key, name: str, reserved: int, kind: int, value: object) -> None:
        self.keys[(key.root, key.path)][name.lower()] = (value, kind)

    def QueryValueEx(self, key: Key, name: str) -> tuple[object, int]:
        try:
            return self.keys[(key.root, key.path)][name.lower()]
        except KeyError:
            raise FileNotFoundError(2, "The system cannot find the file specified") from None

    def EnumKey(self, key: Key, index: int) -> str:
        prefix = key.path + "\\"
        children = sorted(
            {p[len(prefix) :].split("\\")[0] for r, p in self.keys if r == key.root and p.startswith(prefix)}
        )
        if index >= len(children):
            raise OSError(259, "No more data is available")
        return children[index]

    def DeleteKey(self, key: object, sub_key: str) -> None:
        root, path = self._full(key, sub_key)
        if (root, path) not in self.keys:
            raise FileNotFoundError(2, "The system cannot find the file specified")
        if any(r == root and p.startswith(path + "\\") for r, p in self.keys):
            raise PermissionError(5, "Access is denied (the key has subkeys)")
        del self.keys[(root, path)]
