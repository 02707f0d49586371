"""The route template a request matched (`/v1/games/{game_id}/join`), never its raw path."""

from __future__ import annotations

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from lobby.metrics import UNMATCHED_ROUTE

CACHE_KEY = "playlink.route"


def route_template(scope: Scope) -> str:
    """The template of the route that handled (or would handle) this request, or `unmatched`.

    The router records its route in the scope; a request answered before routing (a 429 or a 413)
    is matched here against the app's routes as FastAPI flattens its included routers, so it is
    labelled like the requests that got through.
    """
    cached = scope.get(CACHE_KEY)
    if cached is not None:
        return cached
    route = scope.get("route") or _match(scope)
    template = getattr(route, "path", None)
    result = template if isinstance(template, str) and template else UNMATCHED_ROUTE
    scope[CACHE_KEY] = result
    return result


def _match(scope: Scope) -> BaseRoute | None:
    partial = None
    for context in iter_route_contexts(getattr(scope.get("app"), "routes", ())):
        route = context.route
        match, _child = route.matches(scope)
        if match is Match.FULL:
            return route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return partial
