"""The game-server side: heartbeats that survive an outage, the policy switch, leaves, registration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from client_sdk import (
    AsyncGameServer,
    LobbyUnavailable,
    Policy,
    Replayed,
    Unauthorized,
    WrongAudience,
)
from tests.support.lobby import ADMIN_TOKEN, LobbyProcess, add_server, free_port, join, new_player, unique


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Wait until `condition()` holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_heartbeats_back_off_while_the_lobby_is_down_and_recover_when_it_returns(
    start_lobby: Callable[..., LobbyProcess],
) -> None:
    lobby = start_lobby()
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server = add_server(api)
    options = {"heartbeat_interval_s": 0.1, "backoff_first_s": 0.05, "backoff_max_s": 0.4}
    async with AsyncGameServer(lobby.url, server.id, server.secret, **options) as sdk:  # type: ignore[arg-type]
        state = sdk.heartbeat_state
        await eventually(lambda: state.sent >= 2, "heartbeats")
        lobby.stop()

        await eventually(lambda: state.consecutive_failures >= 4, "failed heartbeats")
        assert state.last_error == "lobby_unavailable"
        assert 0.2 <= state.next_delay_s <= 0.4, "doubling from 0.05 s, capped at 0.4 s, jittered"
        sent = state.sent

        start_lobby(data_dir=lobby.data_dir, port=lobby.port)
        await eventually(lambda: state.sent > sent, "a heartbeat after the lobby came back")
        assert (state.consecutive_failures, state.next_delay_s) == (0, 0.1)
        with httpx.Client(base_url=lobby.url, timeout=10) as api:
            assert api.get(f"/v1/games/{server.id}").json()["status"] == "online"


async def test_online_policy_redeems_at_the_lobby_which_refuses_the_replay(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server, player = add_server(api), new_player(api)
    token = join(api, player, server)
    async with AsyncGameServer(lobby.url, server.id, server.secret) as sdk:
        admitted = await sdk.admit(token)
        assert (admitted.player.id, admitted.game, admitted.online) == (player.id, server.id, True)
        assert admitted.expires_at > time.time()
        assert sdk.players == {player.id: admitted.player}
        with pytest.raises(Replayed):
            await sdk.admit(token)
    assert {"id": player.id, "name": player.name} in api.get(f"/v1/games/{server.id}").json()["members"]


async def test_the_lobby_refuses_a_token_redeemed_by_a_server_it_does_not_name(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    named, other = add_server(api), add_server(api)
    token = join(api, new_player(api), named)
    async with AsyncGameServer(lobby.url, other.id, other.secret) as sdk:
        with pytest.raises(WrongAudience) as caught:
            await sdk.redeem(token)
        assert caught.value.status == 403
        with pytest.raises(WrongAudience):
            await sdk.verify(token)


async def test_offline_policy_admits_by_verifying_locally_and_queues_the_admission_for_the_lobby(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server, player = add_server(api), new_player(api)
    token = join(api, player, server)
    async with AsyncGameServer(lobby.url, server.id, server.secret, policy=Policy.OFFLINE) as sdk:
        admitted = await sdk.admit(token)
        assert (admitted.player.id, admitted.online) == (player.id, False)
        assert sdk.unreported == [admitted]


async def test_fallback_policy_redeems_online_and_verifies_offline_only_when_the_lobby_is_unreachable(
    start_lobby: Callable[..., LobbyProcess],
) -> None:
    lobby = start_lobby()
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server = add_server(api)
        before, during, spare = (join(api, new_player(api), server) for _ in range(3))
    fallback = Policy.ONLINE_WITH_FALLBACK
    async with (
        AsyncGameServer(lobby.url, server.id, server.secret, policy=fallback) as sdk,
        AsyncGameServer(lobby.url, server.id, server.secret, policy=Policy.ONLINE) as online_only,
    ):
        assert (await sdk.admit(before)).online is True
        lobby.stop()

        assert (await sdk.admit(during)).online is False
        with pytest.raises(Replayed):
            await sdk.admit(during)
        with pytest.raises(Replayed):
            await sdk.admit(before)
        with pytest.raises(LobbyUnavailable) as caught:
            await online_only.admit(spare)
        assert caught.value.reason == "lobby_unavailable"


FAST_HEARTBEATS = {"heartbeat_interval_s": 0.1, "backoff_first_s": 0.05, "backoff_max_s": 0.2}


def members(api: httpx.Client, server_id: str) -> list[str]:
    """The ids of the players the lobby lists on a game server."""
    return [m["id"] for m in api.get(f"/v1/games/{server_id}").json()["members"]]


async def test_players_the_fallback_admitted_offline_are_reported_once_the_lobby_returns(
    start_lobby: Callable[..., LobbyProcess],
) -> None:
    lobby = start_lobby()
    api = httpx.Client(base_url=lobby.url, timeout=10)
    server = add_server(api)
    stays, leaves = new_player(api), new_player(api)
    stays_token, leaves_token = join(api, stays, server), join(api, leaves, server)
    fallback = Policy.ONLINE_WITH_FALLBACK
    async with AsyncGameServer(
        lobby.url, server.id, server.secret, policy=fallback, **FAST_HEARTBEATS  # type: ignore[arg-type]
    ) as sdk:
        lobby.stop()
        assert (await sdk.admit(stays_token)).online is False
        assert (await sdk.admit(leaves_token)).online is False
        assert await sdk.leave(leaves.id) is True
        assert [a.player.id for a in sdk.unreported] == [stays.id, leaves.id]
        assert sdk.unreported_leaves == [leaves.id]

        lobby.start()
        await eventually(lambda: not sdk.unreported and not sdk.unreported_leaves, "the reports")
        assert members(api, server.id) == [stays.id], "the leave went after its admission"
        assert api.get(f"/v1/games/{server.id}").json()["reserved"] == 0
        async with AsyncGameServer(lobby.url, server.id, server.secret) as online_only:
            for token in (stays_token, leaves_token):
                with pytest.raises(Replayed):
                    await online_only.redeem(token)
    api.close()


async def test_a_leave_while_the_lobby_is_down_is_reported_when_it_returns(
    start_lobby: Callable[..., LobbyProcess],
) -> None:
    lobby = start_lobby()
    api = httpx.Client(base_url=lobby.url, timeout=10)
    server, player = add_server(api), new_player(api)
    token = join(api, player, server)
    async with AsyncGameServer(
        lobby.url, server.id, server.secret, **FAST_HEARTBEATS  # type: ignore[arg-type]
    ) as sdk:
        await sdk.admit(token)
        assert members(api, server.id) == [player.id]
        lobby.stop()
        assert await sdk.leave(player.id) is True
        assert sdk.unreported_leaves == [player.id]
        lobby.start()
        await eventually(lambda: not sdk.unreported_leaves, "the queued leave to be reported")
        assert members(api, server.id) == []
    api.close()


async def test_an_offline_admission_whose_token_expired_during_the_outage_is_dropped_with_a_warning(
    start_lobby: Callable[..., LobbyProcess], caplog: pytest.LogCaptureFixture
) -> None:
    lobby = start_lobby(LOBBY_JOIN_TOKEN_TTL_S="3", LOBBY_CLOCK_LEEWAY_S="0")
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server, player = add_server(api), new_player(api)
        token = join(api, player, server)
    fallback = Policy.ONLINE_WITH_FALLBACK
    async with AsyncGameServer(
        lobby.url, server.id, server.secret, policy=fallback, leeway_s=0, **FAST_HEARTBEATS  # type: ignore[arg-type]
    ) as sdk:
        lobby.stop()
        admitted = await sdk.admit(token)
        await asyncio.sleep(max(0.0, admitted.expires_at + 1.0 - time.time()))
        lobby.start()
        await eventually(lambda: not sdk.unreported, "the expired admission to be dropped")
        assert player.id in sdk.players, "the player still plays; only the lobby does not list them"
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        assert members(api, server.id) == []
    assert any(
        "refused an offline admission" in r.getMessage() and "expired" in r.getMessage()
        for r in caplog.records
    )


async def test_an_offline_server_reports_its_admissions_so_the_lobby_counts_each_slot_once(
    start_lobby: Callable[..., LobbyProcess],
) -> None:
    lobby = start_lobby()
    with httpx.Client(base_url=lobby.url, timeout=10) as api:
        server, player = add_server(api), new_player(api)
        token = join(api, player, server)
        async with AsyncGameServer(
            lobby.url, server.id, server.secret, policy=Policy.OFFLINE, **FAST_HEARTBEATS  # type: ignore[arg-type]
        ) as sdk:
            await sdk.admit(token)
            await eventually(lambda: not sdk.unreported, "the admission to be reported")
            await eventually(lambda: sdk.heartbeat_state.sent >= 3, "heartbeats")
            game = api.get(f"/v1/games/{server.id}").json()
            assert (game["players"], game["reserved"], members(api, server.id)) == (1, 0, [player.id])
            assert await sdk.leave(player.id) is True
            assert members(api, server.id) == []


async def test_a_leave_frees_the_slot_at_the_lobby_and_a_second_leave_says_false(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    server, player = add_server(api, capacity=1), new_player(api)
    async with AsyncGameServer(lobby.url, server.id, server.secret) as sdk:
        await sdk.redeem(join(api, player, server))
        assert await sdk.leave(player.id) is True
        assert sdk.players == {}
        assert api.get(f"/v1/games/{server.id}").json()["members"] == []
        assert await sdk.leave(player.id) is False
        join(api, new_player(api), server)


async def test_a_server_registered_on_start_is_listed_and_deregistered_on_shutdown(
    lobby: LobbyProcess, api: httpx.Client
) -> None:
    name, address = unique("registered"), f"127.0.0.1:{free_port()}"
    sdk = await AsyncGameServer.register(
        lobby.url, admin_token=ADMIN_TOKEN, name=name, address=address, capacity=3
    )
    async with sdk:
        await asyncio.sleep(0.1)
        game = api.get(f"/v1/games/{sdk.id}").json()
        assert (game["name"], game["address"], game["status"]) == (name, address, "online")
    assert api.get(f"/v1/games/{sdk.id}").status_code == 404


async def test_registering_with_a_wrong_admin_token_is_unauthorized(lobby: LobbyProcess) -> None:
    with pytest.raises(Unauthorized) as caught:
        await AsyncGameServer.register(
            lobby.url, admin_token="wrong-token-0123456789", name="x", address="127.0.0.1:1", capacity=1
        )
    assert caught.value.status == 401


async def test_the_hooks_hear_failing_heartbeats_the_lobby_back_and_the_reports(
    start_lobby: Callable[..., LobbyProcess],
) -> None:
    lobby = start_lobby()
    api = httpx.Client(base_url=lobby.url, timeout=10)
    server = add_server(api)
    token = join(api, new_player(api), server)
    heard: list[str] = []

    def failing(state: object) -> None:
        heard.append("failed")
        raise RuntimeError("a broken hook must not stop the heartbeats")

    hooks = {
        "on_heartbeat_failed": failing,
        "on_lobby_back": lambda state: heard.append(f"back after {state.sent} sent"),
        "on_reported": lambda count: heard.append(f"reported {count}"),
    }
    async with AsyncGameServer(
        lobby.url, server.id, server.secret, policy=Policy.ONLINE_WITH_FALLBACK,
        **FAST_HEARTBEATS, **hooks,  # type: ignore[arg-type]
    ) as sdk:
        await eventually(lambda: sdk.heartbeat_state.sent >= 1, "a heartbeat")
        lobby.stop()
        await sdk.admit(token)
        await eventually(lambda: heard.count("failed") >= 2, "failed heartbeats")
        lobby.start()
        await eventually(lambda: "reported 1" in heard, "the report")
    api.close()
    assert next(h for h in heard if h != "failed").startswith("back after")
    assert heard.index("reported 1") > heard.index("failed")
