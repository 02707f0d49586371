"""The lobby's Redis clients on a real Redis Cluster when redis-py itself fails or a node hangs.

Under connection churn redis-py's cluster client has raised `AttributeError: 'NoneType' object has
no attribute 'writelines'` (a connection closed under a command). That race cannot be produced on
demand, so these tests inject that very exception into redis-py's connection (`send_packed_command`,
or a reply that never comes) with monkeypatch, on a real cluster; a hung master is real: its
processes are stopped with SIGSTOP.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import RedisCluster
from redis.asyncio.connection import AbstractConnection

from lobby.errors import Unavailable
from lobby.events_redis import RedisEventBus
from lobby.ratelimit import rate_limiter_from_settings
from lobby.settings import Settings
from lobby.store import RedisStore
from tests.support.redis import RedisClusterProcesses

NEVER_S = 15.0  # far beyond every bound the lobby sets: reaching it means a wait was unbounded
HUNG_S = 8.0  # how long the cluster's nodes stay stopped: beyond the clients' socket timeouts


def _churned(*_args: object, **_kwargs: object) -> None:
    raise AttributeError("'NoneType' object has no attribute 'writelines'")


async def _no_reply(*_args: object, **_kwargs: object) -> None:
    await asyncio.sleep(3600)


@pytest.fixture
async def store(redis_cluster: RedisClusterProcesses) -> AsyncIterator[RedisStore]:
    """An open store on the shared cluster under a prefix of its own."""
    s = RedisStore(redis_cluster.url(), f"faults-{uuid.uuid4().hex[:12]}:")
    await s.open()
    yield s
    await s.close()


async def test_a_non_redis_exception_inside_redis_py_is_a_store_outage_not_a_crash(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AbstractConnection, "send_packed_command", _churned)
    with pytest.raises(Unavailable):
        await store.get_server("s1", 0.0)
    with pytest.raises(Unavailable):
        await store.session_player(b"\x01" * 32, 0.0)
    with pytest.raises(Unavailable):
        await store.server_facts("s1")
    monkeypatch.undo()
    assert await store.get_server("s1", 0.0) is None


async def test_a_publish_whose_batch_fails_in_redis_py_returns(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = RedisEventBus(history=16, queue=16)
    await bus.open(store)
    try:
        monkeypatch.setattr(AbstractConnection, "send_packed_command", _churned)
        event = await asyncio.wait_for(bus.publish("game", {"id": "s1"}), NEVER_S)
        assert event.id == ""
        monkeypatch.undo()
        event = await asyncio.wait_for(bus.publish("game", {"id": "s2"}), NEVER_S)
        assert event.id != ""
    finally:
        await bus.close()


async def test_a_publish_redis_never_answers_returns(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bus = RedisEventBus(history=16, queue=16)
    await bus.open(store)
    try:
        monkeypatch.setattr(AbstractConnection, "read_response", _no_reply)
        event = await asyncio.wait_for(bus.publish("game", {"id": "s1"}), NEVER_S)
        assert event.id == ""
    finally:
        monkeypatch.undo()
        await bus.close()


async def test_the_rate_limiter_on_a_hung_cluster_refuses_instead_of_waiting(
    store: RedisStore, redis_cluster: RedisClusterProcesses, tmp_path: Path
) -> None:
    limiter = rate_limiter_from_settings(Settings(data_dir=tmp_path / "data"))
    await limiter.open(store)
    pids = [node.process.pid for node in redis_cluster.nodes if node.process is not None]
    try:
        assert (await limiter.check([("address", "192.0.2.1")])).allowed
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        with pytest.raises(Unavailable):
            await asyncio.wait_for(limiter.check([("address", "192.0.2.1")]), HUNG_S - 1)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        await limiter.close()


async def test_readiness_follows_the_master_of_the_lobbys_keys_and_no_other(
    store: RedisStore, redis_cluster: RedisClusterProcesses
) -> None:
    assert isinstance(store.client, RedisCluster)
    ours = store.client.get_node_from_key(store.prefix + "layout").port
    # ours last: after a timeout redis-py re-reads the slot map, from any node, hung ones included
    for node in sorted(redis_cluster.nodes, key=lambda node: node.port == ours):
        assert node.process is not None
        os.kill(node.process.pid, signal.SIGSTOP)
        try:
            if node.port == ours:
                with pytest.raises(Unavailable):
                    await store.ping()
            else:
                await store.ping()
        finally:
            os.kill(node.process.pid, signal.SIGCONT)
