"""The one module-level lobby app, built from the environment, for `uvicorn lobby.asgi:app`."""

from __future__ import annotations

from lobby.app import create_app
from lobby.settings import load_settings

app = create_app(load_settings())
