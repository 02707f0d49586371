"""Native host registration where the manifest's `path` is a marked `/bin/sh` stub: Linux and macOS.

A platform mixes this in and says where the browsers look (`host_folders`) and where the stub goes
(`host_wrapper_path`); the stub `exec`s the launcher with `native-host <scheme>` and the browser's
own arguments, every argument single-quoted (see `stub.py`).
"""

from __future__ import annotations

import os

from launcher import hostmanifest
from launcher.errors import PlatformError
from launcher.platforms import MARKER, stub


class StubHosts:
    """`register_host`, `unregister_host` and `host_status` for POSIX systems."""

    hosts_supported = True

    def host_folders(self) -> list[str]:
        """Return the per-user native messaging host folders of the browsers this OS has."""
        raise NotImplementedError

    def host_wrapper_path(self, scheme: str) -> str:
        """Return the path of the stub a host manifest names for `scheme`."""
        raise NotImplementedError

    def check_host_free(self, scheme: str) -> None:
        """Refuse when the stub or a manifest of `scheme` exists and is not ours."""
        path = self.host_wrapper_path(scheme)
        if os.path.lexists(path) and not stub.has_marker(path, MARKER):
            raise PlatformError(f"{path} exists and is not ours; refusing to overwrite it")
        hostmanifest.check_free(self.host_folders(), scheme)

    def register_host(self, scheme: str, command: list[str], extension_ids: list[str]) -> list[str]:
        """Write the host's stub and its manifest for each browser, allowing only `extension_ids`."""
        self.check_host_free(scheme)
        path = self.host_wrapper_path(scheme)
        comment = f"Playlink native messaging host for {scheme}:// (generated)"
        content = stub.sh_stub([*command, "native-host", scheme], comment=comment, marker=MARKER)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        manifests = hostmanifest.write_all(self.host_folders(), scheme, path, extension_ids)
        stub.write_stub(path, content)
        return manifests

    def unregister_host(self, scheme: str) -> bool:
        """Delete our manifests and stub of `scheme`'s native host."""
        removed = hostmanifest.remove_all(self.host_folders(), scheme)
        path = self.host_wrapper_path(scheme)
        if os.path.isfile(path) and stub.has_marker(path, MARKER):
            os.unlink(path)
            removed = True
        return removed

    def host_status(self, scheme: str) -> list[str]:
        """Return our manifests of `scheme` whose stub exists."""
        if not stub.has_marker(self.host_wrapper_path(scheme), MARKER):
            return []
        return hostmanifest.found(self.host_folders(), scheme)
