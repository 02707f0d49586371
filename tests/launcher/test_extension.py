"""`launcher extension`: a least-privilege MV3 extension whose id comes from a kept or given key."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from launcher import config
from launcher.hostmanifest import extension_id

from .conftest import LOBBY, SCHEME, World


def generate(world: World, out: Path, *extra: str) -> tuple[str, dict[str, object]]:
    """Run the real `launcher extension arena`; return the id it printed and the manifest written."""
    done = world.launcher("extension", SCHEME, "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr
    printed = done.stdout.split("extension id ")[1].split()[0]
    return printed, json.loads((out / "manifest.json").read_text())


def key_id(manifest: dict[str, object]) -> str:
    """The extension id browsers derive from the manifest's key."""
    return extension_id(base64.b64decode(str(manifest["key"])))


def test_the_extension_asks_only_for_native_messaging_and_the_lobbys_top_frame(installed: World) -> None:
    printed, manifest = generate(installed, installed.root / "ext")
    assert manifest["manifest_version"] == 3
    assert manifest["permissions"] == ["nativeMessaging"]
    assert not {"host_permissions", "externally_connectable", "web_accessible_resources"} & set(manifest)
    [script] = manifest["content_scripts"]  # type: ignore[misc]
    assert script["matches"] == [f"{LOBBY}/*"]
    assert script["all_frames"] is False
    assert printed == key_id(manifest)
    assert sorted(os.listdir(installed.root / "ext")) == ["background.js", "content.js", "manifest.json"]
    background = (installed.root / "ext" / "background.js").read_text()
    assert f'"origins": ["{LOBBY}"]' in background
    assert '"host": "io.playlink.arena"' in background


def test_the_generated_key_is_kept_private_and_reused_so_the_id_is_stable(installed: World) -> None:
    first, _ = generate(installed, installed.root / "one")
    second, _ = generate(installed, installed.root / "two")
    assert first == second
    kept = Path(config.config_dir()) / f"{SCHEME}.extension-key.pem"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" not in b"".join(p.read_bytes() for p in (installed.root / "one").iterdir())


def test_a_publishers_key_gives_its_own_id_and_lobbies_can_be_given(world: World) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = world.root / "publisher.pem"
    pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    printed, manifest = generate(
        world, world.root / "ext", "--key", str(pem), "--lobby", "https://Play.example:443/x"
    )
    assert printed == extension_id(der) == key_id(manifest)
    assert manifest["content_scripts"][0]["matches"] == ["https://play.example/*"]  # type: ignore[index]
    assert not (Path(config.config_dir()) / f"{SCHEME}.extension-key.pem").exists()


def test_keys_browsers_cannot_use_and_unsafe_output_folders_are_refused(installed: World) -> None:
    pem = installed.root / "ec.pem"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem.write_bytes(
        ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    garbage = installed.root / "garbage.pem"
    garbage.write_text("not a key")
    busy = installed.root / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    for args in (["--key", str(pem)], ["--key", str(garbage)], ["--lobby", "ftp://x"]):
        done = installed.launcher("extension", SCHEME, "--out", str(installed.root / "out"), *args)
        assert done.returncode == 1, args
        assert done.stderr.startswith("launcher: ")
        assert not (installed.root / "out").exists()
    done = installed.launcher("extension", SCHEME, "--out", str(busy))
    assert done.returncode == 1
    assert os.listdir(busy) == ["notes.txt"]


def test_without_a_config_or_lobbies_the_extension_is_refused(world: World) -> None:
    done = world.launcher("extension", SCHEME, "--out", str(world.root / "ext"))
    assert (done.returncode, "[not_found]" in done.stderr) == (1, True)
    assert not (world.root / "ext").exists()
