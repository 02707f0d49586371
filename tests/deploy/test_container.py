"""deploy/Containerfile and deploy/pod.yaml, built and run with Debian's podman: the image runs as a
non-root user on a read-only root filesystem with a health check, and the pod's two lobbies share
its Redis and a read-only keys directory.

The image's base is a debootstrap root filesystem (`./dev test` prepares it, `PLAYLINK_CONTAINER_BASE`),
since no registry is reachable here; the Containerfile's default base is the public Python image."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lobby.keys import KeyRing
from tests.deploy.test_nginx import rendered
from tests.support.lobby import ROOT, free_port

DEPLOY = ROOT / "deploy"
BASE_IMAGE = "localhost/playlink-base:bookworm"
LOBBY_IMAGE = "localhost/playlink-lobby:latest"
REDIS_IMAGE = "localhost/playlink-redis:latest"
ADMIN = {"Authorization": "Bearer replace-this-admin-token-0123456789"}
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
IMAGE_UID = 10001
BUILD_TIMEOUT_S = 900
START_TIMEOUT_S = 60.0


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run podman; a failure shows its output."""
    binary = shutil.which("podman")
    if binary is None:
        pytest.fail("podman is not installed: ./dev test installs it (apt-get install podman runc)")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check:
        assert done.returncode == 0, f"podman {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def build(target: str, tag: str) -> None:
    """Build one stage of deploy/Containerfile on the debootstrap base."""
    podman(
        "build", "--format", "docker", "--build-arg", f"BASE={BASE_IMAGE}", "--target", target,
        "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "-f", str(DEPLOY / "Containerfile"), "-t", tag, str(ROOT),
        timeout=BUILD_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def images() -> None:
    """The lobby and Redis images, built from deploy/Containerfile (cached layers make a rebuild fast)."""
    base = os.environ.get("PLAYLINK_CONTAINER_BASE")
    if not base or not Path(base).is_file():
        pytest.fail("no container base: run the tests with ./dev test (it prepares PLAYLINK_CONTAINER_BASE)")
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        podman("import", base, BASE_IMAGE, timeout=300)
    build("lobby", LOBBY_IMAGE)
    build("redis", REDIS_IMAGE)


def test_the_image_runs_as_a_non_root_user_on_a_read_only_root_with_a_health_check(images: None) -> None:
    done = podman("run", "--rm", "--read-only", "--entrypoint", "id", LOBBY_IMAGE)
    assert done.stdout.startswith(f"uid={IMAGE_UID}(playlink)")
    done = podman("run", "--rm", "--read-only", "--entrypoint", "touch", LOBBY_IMAGE, "/opt/playlink/x",
                  check=False)
    assert done.returncode != 0
    health = podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", LOBBY_IMAGE).stdout
    assert "/opt/playlink/bin/lobby-health" in health


@pytest.fixture(scope="module")
def pod(images: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """deploy/pod.yaml played with host ports and a keys directory of its own; its name, lobby URLs."""
    root = tmp_path_factory.mktemp("pod")
    keys = root / "keys"
    KeyRing(keys).rotate()
    (keys / ".lock").unlink()
    for path in (keys, *keys.iterdir()):
        os.chown(path, IMAGE_UID, IMAGE_UID)
    ports = [free_port(), free_port()]
    name = f"playlink-test-{uuid.uuid4().hex[:8]}"
    spec = rendered(DEPLOY / "pod.yaml", root / "pod.yaml", {
        "  name: playlink\n": f"  name: {name}\n",
        "hostPort: 8001,": f"hostPort: {ports[0]},",
        "hostPort: 8002,": f"hostPort: {ports[1]},",
        "path: /etc/playlink/keys,": f"path: {keys},",
    })
    podman("kube", "play", str(spec))
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        for url in urls:
            while not ready(url):
                logs = podman("pod", "logs", name, check=False).stdout
                assert time.monotonic() < deadline, logs
                time.sleep(0.5)
        yield name, urls
    finally:
        podman("kube", "down", str(spec), check=False)


def ready(url: str) -> bool:
    """Whether the lobby at `url` answers /readyz with 200."""
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_pods_two_lobbies_share_redis_and_the_read_only_keys(pod: tuple[str, list[str]]) -> None:
    name, urls = pod
    one, two = (httpx.Client(base_url=url, timeout=10) for url in urls)
    with one, two:
        body = {"name": "pod-test", "address": "127.0.0.1:7000", "capacity": 4}
        r = one.post("/v1/servers", json=body, headers=ADMIN)
        assert r.status_code == 201, r.text
        server_id = r.json()["id"]
        assert two.get(f"/v1/games/{server_id}").json()["name"] == "pod-test"
        assert one.get("/.well-known/jwks.json").json() == two.get("/.well-known/jwks.json").json()
    lobby = f"{name}-lobby-1"
    assert podman("exec", lobby, "touch", "/etc/playlink/keys/x", check=False).returncode != 0
    assert podman("exec", lobby, "touch", "/opt/playlink/x", check=False).returncode != 0
    assert podman("exec", lobby, "id", "-u").stdout.strip() == str(IMAGE_UID)
    assert podman("healthcheck", "run", lobby, check=False).returncode == 0
