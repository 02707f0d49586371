"""The app factory in-process: resources open in the lifespan, health and readiness."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lobby.app import create_app
from lobby.settings import Settings


@pytest.fixture
def clean_env(monkeypatch):
    for name in [k for k in os.environ if k.startswith("LOBBY_")]:
        monkeypatch.delenv(name)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[object, httpx.AsyncClient]]:
    """An app with its lifespan running, and a client that calls it in-process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lobby.test") as client:
            yield app, client


@pytest.fixture
async def lobby_app(clean_env, tmp_path):
    async with running(Settings(data_dir=tmp_path / "data")) as (app, client):
        yield app, client


def test_creating_the_app_touches_nothing_on_disk(clean_env, tmp_path):
    create_app(Settings(data_dir=tmp_path / "data"))
    assert not (tmp_path / "data").exists()


async def test_healthz_and_readyz_answer_ok(lobby_app):
    _app, client = lobby_app
    health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_starting_creates_a_signing_key_and_the_database_in_the_data_dir(lobby_app, tmp_path):
    _app, client = lobby_app
    pems = list((tmp_path / "data" / "keys").glob("*.pem"))
    assert len(pems) == 1
    assert (tmp_path / "data" / "lobby.db").exists()
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [pems[0].name.removesuffix(".pem")]


async def test_readyz_is_an_unavailable_problem_when_the_store_is_closed(lobby_app):
    app, client = lobby_app
    await app.state.lobby.store.close()
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["reason"] == "unavailable"
    assert r.json()["status"] == 503
    assert (await client.get("/healthz")).status_code == 200


async def test_a_separate_keys_dir_holds_the_keys_and_instances_sharing_it_publish_the_same(
    clean_env, tmp_path: Path
):
    keys_dir = tmp_path / "shared-keys"
    first = Settings(data_dir=tmp_path / "one", keys_dir=keys_dir)
    second = Settings(data_dir=tmp_path / "two", keys_dir=keys_dir)
    async with running(first) as (_a, one), running(second) as (_b, two):
        jwks_one = (await one.get("/.well-known/jwks.json")).json()
        jwks_two = (await two.get("/.well-known/jwks.json")).json()
    assert jwks_one == jwks_two
    assert len(jwks_one["keys"]) == 1
    assert len(list(keys_dir.glob("*.pem"))) == 1
    assert not (tmp_path / "one" / "keys").exists()


async def test_leaving_the_lifespan_closes_the_store(clean_env, tmp_path):
    async with running(Settings(data_dir=tmp_path / "data")) as (app, _client):
        store = app.state.lobby.store
        await store.ping()
    with pytest.raises(Exception, match="closed"):
        await store.ping()
