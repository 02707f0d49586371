"""Pure ASGI middleware of the lobby."""
