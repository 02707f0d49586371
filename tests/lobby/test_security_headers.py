"""Every response carries a Content-Security-Policy that forbids inline script, and friends."""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("path", ["/", "/healthz", "/v1/games", "/nope", "/.well-known/jwks.json"])
def test_responses_carry_a_csp_without_inline_script(api: httpx.Client, path: str) -> None:
    r = api.get(path)
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_web_page_is_served_at_the_root(api: httpx.Client) -> None:
    r = api.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "<title>Playlink lobby</title>" in r.text
