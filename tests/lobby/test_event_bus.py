"""The in-process event bus: ids, per-player delivery, bounded queues, history and closing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lobby import events_sqlite
from lobby.events import InProcessEventBus
from lobby.events_sqlite import SqliteEventBus
from lobby.store import SqliteStore


async def test_events_reach_every_subscriber_in_order_with_increasing_ids() -> None:
    bus = InProcessEventBus(history=10, queue=10)
    a, b = bus.subscribe(), bus.subscribe()
    first = await bus.publish("game", {"id": "s1"})
    second = await bus.publish("game_removed", {"id": "s1"})
    for sub in (a, b):
        assert await sub.get(1) == first
        assert await sub.get(1) == second
    assert first.seq < second.seq
    assert first.id != second.id
    assert first.wire.startswith(b"event: game\ndata: {")


async def test_a_players_events_reach_only_that_players_subscriptions() -> None:
    bus = InProcessEventBus(history=10, queue=10)
    alice, bob, anonymous = bus.subscribe("alice"), bus.subscribe("bob"), bus.subscribe()
    await bus.publish("join", {"state": "received"}, player="alice")
    assert (await alice.get(1)).name == "join"
    assert await bob.get(0.01) is None
    assert await anonymous.get(0.01) is None


async def test_a_slow_subscriber_is_dropped_instead_of_growing() -> None:
    bus = InProcessEventBus(history=10, queue=3)
    slow, fast = bus.subscribe(), bus.subscribe()
    for n in range(4):
        await bus.publish("game", {"n": n})
        assert (await fast.get(1)).data == {"n": n}
    assert bus.subscribers == 1
    assert bus.dropped == 1
    with pytest.raises(StopAsyncIteration):
        await slow.get(1)


async def test_resuming_gives_the_missed_events_or_none_when_too_old() -> None:
    bus = InProcessEventBus(history=3, queue=10)
    events = [await bus.publish("game", {"n": n}) for n in range(5)]
    resumed = bus.subscribe(None, events[2].id)
    assert resumed.missed == events[3:]
    assert bus.subscribe(None, events[4].id).missed == []
    assert bus.subscribe(None, events[0].id).missed is None
    assert bus.subscribe(None, "other-boot-3").missed is None


async def test_closing_the_bus_ends_every_subscription() -> None:
    bus = InProcessEventBus(history=3, queue=10)
    sub = bus.subscribe()
    await bus.close()
    with pytest.raises(StopAsyncIteration):
        await sub.get(1)
    with pytest.raises(StopAsyncIteration):
        await bus.subscribe().get(1)
    assert bus.subscribers == 0


async def test_internal_events_reach_listeners_and_never_a_stream_or_a_resume() -> None:
    bus = InProcessEventBus(history=10, queue=10)
    heard: list[object] = []
    bus.listen("_session_ended", heard.append)
    bus.listen("_session_ended", lambda data: 1 / 0)  # a failing listener stops nothing
    alice, anonymous = bus.subscribe("alice"), bus.subscribe()
    before = await bus.publish("game", {"id": "s1"})
    await bus.publish("_session_ended", {"session": "ab"}, player="alice")
    await bus.publish("_session_ended", {"session": "cd"})
    after = await bus.publish("game", {"id": "s2"})
    assert heard == [{"session": "ab"}, {"session": "cd"}]
    for sub in (alice, anonymous):
        assert [await sub.get(1), await sub.get(1)] == [before, after]
        assert await sub.get(0.01) is None
    assert bus.subscribe("alice", before.id).missed == [after]


async def test_a_resume_on_another_process_reads_the_event_it_names_instead_of_resetting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two SQLite buses on one file, as two workers; B's poller is made too slow to have read
    what A just published, so only the catch-up can find it."""
    monkeypatch.setattr(events_sqlite, "EVENTS_POLL_S", 30.0)
    stores = [SqliteStore(tmp_path / "lobby.db"), SqliteStore(tmp_path / "lobby.db")]
    buses = [SqliteEventBus(history=10, queue=10), SqliteEventBus(history=10, queue=10)]
    for store, bus in zip(stores, buses, strict=True):
        await store.open()
        await bus.open(store)
    try:
        a, b = buses
        await asyncio.sleep(0.2)  # B's poller has made its first read and now sleeps
        listening = b.subscribe()
        first = await a.publish("game", {"id": "s1"})
        second = await a.publish("game", {"id": "s2"})
        assert b.subscribe(None, first.id).missed is None, "B has not read it: this would reset"
        await b.catch_up(second.id)
        assert [e.id for e in b.subscribe(None, first.id).missed or []] == [second.id]
        assert [(await listening.get(1)).id, (await listening.get(1)).id] == [first.id, second.id]
        await b.catch_up(second.id)
        assert await listening.get(0.05) is None, "a second catch-up delivers nothing twice"
    finally:
        for store, bus in zip(stores, buses, strict=True):
            await bus.close()
            await store.close()
