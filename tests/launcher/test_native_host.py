"""`launcher native-host`: the browser's framing on real stdin/stdout bytes, refusals, and the hand-off."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from launcher import config
from launcher.nativehost import MAX_MESSAGE_BYTES

from .conftest import LOBBY, LOBBY_ENCODED, SCHEME, TOKEN, VALID_URL, World

ORIGIN = LOBBY
CALLER = "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"


def frame(body: bytes) -> bytes:
    """One native message: the length in native byte order, then the body."""
    return len(body).to_bytes(4, sys.byteorder) + body


def join_message(**changes: object) -> bytes:
    """A framed join message, with some fields changed or (when None) removed."""
    message: dict[str, object] = {"v": 1, "type": "join", "origin": ORIGIN, "url": VALID_URL}
    message.update(changes)
    return frame(json.dumps({k: v for k, v in message.items() if v is not None}).encode())


Replies = list[dict[str, object]]


def host(world: World, stdin: bytes, *args: str) -> tuple[Replies, subprocess.CompletedProcess[bytes]]:
    """Run the real `launcher native-host arena` with `stdin`; return its decoded replies and the run."""
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "native-host", SCHEME, *(args or (CALLER,))],
        input=stdin,
        env=world.env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    replies: Replies = []
    out = done.stdout
    while out:
        length = int.from_bytes(out[:4], sys.byteorder)
        assert len(out) >= 4 + length, f"a reply is cut short: {done.stdout!r}"
        replies.append(json.loads(out[4 : 4 + length]))
        out = out[4 + length :]
    return replies, done


def refused(replies: list[dict[str, object]]) -> str:
    """The reason of the one refusal in `replies`, checking its shape on the way."""
    [reply] = replies
    assert set(reply) == {"ok", "reason", "error"}, reply
    assert reply["ok"] is False
    assert TOKEN not in str(reply["error"])
    return str(reply["reason"])


def test_a_join_from_a_trusted_lobby_page_reaches_the_listening_client_and_answers_ok(
    installed: World,
) -> None:
    installed.start_client()
    replies, done = host(installed, join_message())
    assert (replies, done.returncode) == ([{"ok": True}], 0)
    assert installed.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_when_nothing_listens_the_host_starts_the_client_before_answering_ok(installed: World) -> None:
    replies, _ = host(installed, join_message())
    assert replies == [{"ok": True}]
    assert len(installed.started()) == 1
    assert installed.joins() == [{"lobby": LOBBY, "token": TOKEN}]


def test_messages_are_answered_one_by_one_on_a_persistent_port(installed: World) -> None:
    installed.start_client()
    replies, done = host(installed, join_message() + join_message(origin="https://evil.example"))
    assert replies[0] == {"ok": True}
    assert refused(replies[1:]) == "untrusted_origin"
    assert done.returncode == 0
    assert len(installed.joins()) == 1


def test_the_browser_arguments_are_accepted_and_trusted_for_nothing(installed: World) -> None:
    installed.start_client()
    firefox_args = ("/home/p/.mozilla/native-messaging-hosts/x.json", "arena@example.org")
    replies, _ = host(installed, join_message(origin="https://evil.example"), *firefox_args)
    assert refused(replies) == "untrusted_origin"


@pytest.mark.parametrize(
    ("origin", "why"),
    [
        ("https://evil.example", "another site"),
        ("http://lobby.example", "same host, other scheme"),
        ("https://lobby.example:8443", "same host, other port"),
        ("https://LOBBY.example", "not the browser's serialization"),
        ("https://lobby.example/", "a trailing slash is not an origin"),
        ("null", "an opaque origin"),
        ("", "empty"),
    ],
)
def test_a_page_origin_that_is_not_a_trusted_lobby_is_refused_and_nothing_launched(
    installed: World, origin: str, why: str
) -> None:
    replies, _ = host(installed, join_message(origin=origin))
    assert refused(replies) == "untrusted_origin", why
    assert installed.started() == []


def test_the_url_is_judged_by_the_same_parser_and_reasons_as_launcher_open(installed: World) -> None:
    untrusted = VALID_URL.replace(LOBBY_ENCODED, "https%3A%2F%2Fevil.example")
    for url, reason in [(untrusted, "untrusted_lobby"), (VALID_URL + "#x", "malformed")]:
        replies, _ = host(installed, join_message(url=url))
        opened = installed.launcher("open", "--", url)
        assert refused(replies) == reason
        assert f"[{reason}]" in opened.stderr
    other = host(installed, join_message(url=VALID_URL.replace("arena", "steam", 1)))[0]
    assert refused(other) == "malformed"
    assert installed.started() == []


def test_a_scheme_that_is_not_installed_answers_not_configured(world: World) -> None:
    replies, _ = host(world, join_message())
    assert refused(replies) == "not_configured"


HOSTILE_BODIES: dict[str, bytes] = {
    "not_json": b"{not json",
    "not_utf8": b'{"v": 1, "type": "join", "origin": "\xff", "url": "x"}',
    "array": b"[1, 2]",
    "extra_key": json.dumps(
        {"v": 1, "type": "join", "origin": ORIGIN, "url": VALID_URL, "lobby": LOBBY}
    ).encode(),
    "duplicate_key": (
        f'{{"v": 1, "type": "join", "origin": "{ORIGIN}", "url": "{VALID_URL}", "url": "{VALID_URL}"}}'
    ).encode(),
    "nan": b'{"v": NaN, "type": "join", "origin": "x", "url": "y"}',
    "trailing_data": json.dumps({"v": 1, "type": "join", "origin": ORIGIN, "url": VALID_URL}).encode()
    + b" {}",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_a_body_that_is_not_exactly_a_join_message_is_refused(installed: World, name: str) -> None:
    installed.start_client()
    replies, _ = host(installed, frame(HOSTILE_BODIES[name]))
    assert refused(replies) == "malformed"
    assert installed.joins() == []


@pytest.mark.parametrize(
    "changes",
    [
        {"v": "1"},
        {"v": True},
        {"v": 2},
        {"type": "launch"},
        {"url": None},
        {"origin": None},
        {"url": 7},
        {"origin": ["https://lobby.example"]},
        {"url": {"href": VALID_URL}},
    ],
    ids=repr,
)
def test_a_field_of_the_wrong_type_or_value_is_refused(installed: World, changes: dict[str, object]) -> None:
    replies, _ = host(installed, join_message(**changes))
    assert refused(replies) == "malformed"
    assert installed.started() == []


@pytest.mark.parametrize(
    ("stdin", "reason"),
    [
        (b"\x10\x00", "malformed"),
        (frame(b'{"v": 1}')[:-3], "malformed"),
        ((MAX_MESSAGE_BYTES + 1).to_bytes(4, sys.byteorder) + b"{" + join_message(), "too_large"),
        (b"\xff\xff\xff\xff" + join_message(), "too_large"),
    ],
    ids=["short_prefix", "short_body", "just_over_1_mib", "4_gib"],
)
def test_a_broken_frame_is_answered_once_and_ends_the_session(
    installed: World, stdin: bytes, reason: str
) -> None:
    replies, done = host(installed, stdin)
    assert refused(replies) == reason
    assert done.returncode == 2
    assert installed.started() == []


def test_a_message_of_exactly_1_mib_is_read_and_judged(installed: World) -> None:
    start = json.dumps({"v": 1, "type": "join", "origin": ORIGIN, "url": "x"}).encode()
    body = start + b" " * (MAX_MESSAGE_BYTES - len(start))
    assert len(body) == MAX_MESSAGE_BYTES
    replies, _ = host(installed, frame(body))
    assert refused(replies) == "malformed"


def test_end_of_input_before_any_message_answers_nothing_and_exits_0(installed: World) -> None:
    replies, done = host(installed, b"")
    assert (replies, done.returncode, done.stderr) == ([], 0, b"")


def test_without_a_valid_scheme_the_host_says_why_on_stderr(world: World) -> None:
    for args in (["native-host"], ["native-host", "Arena"]):
        done = world.launcher(*args)
        assert done.returncode == 2
        assert done.stderr.startswith("launcher: ")


def test_a_config_writable_by_others_is_refused_not_trusted(installed: World) -> None:
    import os

    os.chmod(config.config_path(SCHEME), 0o666)
    replies, _ = host(installed, join_message())
    assert refused(replies) == "validation_error"
    assert installed.started() == []


def test_the_host_path_imports_neither_json_socket_argparse_nor_subprocess(installed: World) -> None:
    installed.start_client()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "launcher", "native-host", SCHEME, CALLER],
        input=join_message(),
        env=installed.env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.stdout.endswith(b'{"ok": true}'), done.stdout
    lines = done.stderr.decode().splitlines()
    imported = {line.rsplit("|", 1)[-1].strip() for line in lines if "|" in line}
    assert imported.isdisjoint({"json", "socket", "argparse", "subprocess", "asyncio"})


def test_a_browser_that_leaves_before_the_answer_gets_no_traceback_and_nothing_breaks(
    installed: World,
) -> None:
    installed.start_client()
    process = subprocess.Popen(
        [sys.executable, "-m", "launcher", "native-host", SCHEME, CALLER],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=installed.env,
    )  # fmt: skip
    process.stdout.close()  # type: ignore[union-attr]
    _, stderr = process.communicate(join_message(), timeout=30)
    assert (process.returncode, stderr) == (0, b"")
    installed.wait_for(lambda: installed.joins() == [{"lobby": LOBBY, "token": TOKEN}], "the join")


def test_started_without_stdio_the_host_says_why_in_one_line(installed: World) -> None:
    import os

    done = subprocess.run(
        [sys.executable, "-m", "launcher", "native-host", SCHEME],
        env=installed.env, capture_output=True, text=True, timeout=30, check=False,
        preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("launcher: ")
