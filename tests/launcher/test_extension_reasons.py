"""The extension's and the page's reasons are the ones protocol.md section 4.4 lists, and no others."""

from __future__ import annotations

import re

from .conftest import REPO

SECTION = re.compile(r"^### 4\.4 .*?(?=^## )", re.S | re.M)


def documented() -> set[str]:
    """The reasons in the table of protocol.md section 4.4."""
    section = SECTION.search((REPO / "docs" / "protocol.md").read_text())
    assert section, "protocol.md has no section 4.4"
    return set(re.findall(r"^\| `([a-z_]+)` \|", section.group(0), re.M))


def test_every_reason_the_extension_or_the_page_gives_is_documented_and_vice_versa() -> None:
    sources = [
        REPO / "launcher" / "webextension" / "background.js",
        REPO / "launcher" / "webextension" / "content.js",
        REPO / "lobby" / "static" / "extension.js",
    ]
    given: set[str] = set()
    for path in sources:
        text = path.read_text()
        given |= set(re.findall(r'refusal\("([a-z_]+)"', text))
        given |= set(re.findall(r'reason: "([a-z_]+)"', text))
    assert given == documented()


def test_the_refusals_the_page_falls_back_on_are_the_documented_ones() -> None:
    app = (REPO / "lobby" / "static" / "app.js").read_text()
    match = re.search(r"const SCHEME_CAN_FIX = \[([^\]]*)\]", app)
    assert match
    fallback = set(re.findall(r'"([a-z_]+)"', match.group(1)))
    section = SECTION.search((REPO / "docs" / "protocol.md").read_text())
    table = re.findall(r"^\| `([a-z_]+)` \|.*\| uses the URL scheme \|$", section.group(0), re.M)  # type: ignore[union-attr]
    assert fallback == {*table, "not_configured"}
