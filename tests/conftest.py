"""Fixtures shared by every test: real lobby and Redis processes on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.lobby import LobbyProcess
from tests.support.redis import RedisClusterProcesses, RedisProcess


@pytest.fixture(scope="session")
def lobby(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LobbyProcess]:
    """One real lobby for the whole session; tests isolate themselves by unique names."""
    process = LobbyProcess(tmp_path_factory.mktemp("lobby")).start()
    yield process
    process.stop()


@pytest.fixture
def api(lobby: LobbyProcess) -> Iterator[httpx.Client]:
    """An HTTP client of the shared lobby."""
    with httpx.Client(base_url=lobby.url, timeout=10) as client:
        yield client


@pytest.fixture
def start_lobby(tmp_path: Path) -> Iterator[object]:
    """Start extra lobbies with their own settings; all are stopped after the test."""
    started: list[LobbyProcess] = []

    def start(data_dir: Path | None = None, port: int | None = None, **env: str) -> LobbyProcess:
        process = LobbyProcess(data_dir or tmp_path / f"lobby{len(started)}", env)
        if port is not None:
            process.port = port
        process.start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """One real `redis-server` for the whole session; tests isolate themselves by key prefix or db."""
    process = RedisProcess(tmp_path_factory.mktemp("redis")).start()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcesses]:
    """One real three-node Redis Cluster for the whole session; tests isolate themselves by prefix."""
    cluster = RedisClusterProcesses(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()
