"""Every hostile launch URL is refused by the real `launcher open`: exit 2, nothing launched or delivered.

A real fake client listens throughout (so a delivery would be recorded), and the configured client
command is that same recording client (so a launch would be recorded too).
"""

from __future__ import annotations

import pytest

from .conftest import LOBBY_ENCODED, TOKEN, VALID_URL, World

L = LOBBY_ENCODED
T = TOKEN
BIG = "a" * 100_000

HOSTILE: dict[str, list[str]] = {
    "mixed_case_scheme": ["--", VALID_URL.replace("arena", "Arena", 1)],
    "upper_case_scheme": ["--", VALID_URL.replace("arena", "ARENA", 1)],
    "other_scheme": ["--", VALID_URL.replace("arena", "steam", 1)],
    "cyrillic_lookalike_scheme": ["--", VALID_URL.replace("a", "\u0430", 1)],
    "no_double_slash": ["--", f"arena:join?v=1&lobby={L}&token={T}"],
    "triple_slash": ["--", f"arena:///join?v=1&lobby={L}&token={T}"],
    "other_action": ["--", f"arena://connect?v=1&lobby={L}&token={T}"],
    "upper_case_action": ["--", f"arena://JOIN?v=1&lobby={L}&token={T}"],
    "action_with_path": ["--", f"arena://join/?v=1&lobby={L}&token={T}"],
    "user_info": ["--", f"arena://user@join?v=1&lobby={L}&token={T}"],
    "port": ["--", f"arena://join:8080?v=1&lobby={L}&token={T}"],
    "fragment": ["--", VALID_URL + "#x"],
    "no_parameters": ["--", "arena://join?"],
    "double_question_mark": ["--", f"arena://join??v=1&lobby={L}&token={T}"],
    "duplicate_token": ["--", VALID_URL + f"&token={T}"],
    "duplicate_version": ["--", f"arena://join?v=1&v=1&lobby={L}&token={T}"],
    "unknown_parameter": ["--", VALID_URL + "&next=1"],
    "upper_case_parameter": ["--", f"arena://join?v=1&lobby={L}&TOKEN={T}"],
    "semicolon_separator": ["--", f"arena://join?v=1;lobby={L};token={T}"],
    "missing_token": ["--", f"arena://join?v=1&lobby={L}"],
    "empty_token": ["--", f"arena://join?v=1&lobby={L}&token="],
    "version_2": ["--", f"arena://join?v=2&lobby={L}&token={T}"],
    "argument_injection_as_url": ["--", "--no-sandbox"],
    "space_then_switch": ["--", VALID_URL + " --gpu-launcher=calc.exe"],
    "encoded_switch_smuggling": ["--", VALID_URL + "%20--renderer-cmd-prefix=calc"],
    "switch_in_lobby": ["--", f"arena://join?v=1&lobby=--inspect%3D0.0.0.0&token={T}"],
    "double_quote_breakout": ["--", VALID_URL + '"%20--x="'],
    "single_quote_breakout": ["--", VALID_URL + "'"],
    "raw_crlf": ["--", VALID_URL + "\r\nX-Injected: 1"],
    "encoded_crlf": ["--", VALID_URL + "%0d%0aX-Injected:%201"],
    "encoded_nul": ["--", VALID_URL + "%00"],
    "encoded_tab": ["--", VALID_URL + "%09"],
    "command_substitution": ["--", f"arena://join?v=1&lobby={L}&token=$(touch%20/tmp/pwned)"],
    "backticks": ["--", f"arena://join?v=1&lobby={L}&token=`id`"],
    "unc_path_lobby": ["--", f"arena://join?v=1&lobby=%5C%5Cevil%5Cshare&token={T}"],
    "file_lobby": ["--", f"arena://join?v=1&lobby=file%3A%2F%2F%2Fetc%2Fpasswd&token={T}"],
    "ms_msdt_lobby": ["--", f"arena://join?v=1&lobby=ms-msdt%3A%2Fid%20PCWDiagnostic&token={T}"],
    "nested_ms_msdt_parameter": ["--", VALID_URL + "&url=ms-msdt:/id%20PCWDiagnostic"],
    "javascript_url": ["--", "javascript:alert(document.cookie)"],
    "traversal_in_lobby": ["--", f"arena://join?v=1&lobby={L}%2F..%2F..%2Fetc&token={T}"],
    "double_encoded_lobby": ["--", f"arena://join?v=1&lobby=https%253A%252F%252Flobby.example&token={T}"],
    "bad_percent_escape": ["--", f"arena://join?v=1&lobby=https%3A%2F%2Flobby.example%G1&token={T}"],
    "truncated_percent_escape": ["--", f"arena://join?v=1&lobby={L}%4&token={T}"],
    "encoded_non_ascii_lookalike_host": ["--", f"arena://join?v=1&lobby=https%3A%2F%2Flobb%D1%83.example&token={T}"],
    "untrusted_lobby": ["--", f"arena://join?v=1&lobby=https%3A%2F%2Fevil.example&token={T}"],
    "lobby_user_info_trick": ["--", f"arena://join?v=1&lobby={L}%40evil.example&token={T}"],
    "lobby_backslash_trick": ["--", f"arena://join?v=1&lobby={L}%5C%40evil.example&token={T}"],
    "lobby_downgraded_to_http": ["--", f"arena://join?v=1&lobby=http%3A%2F%2Flobby.example&token={T}"],
    "lobby_other_port": ["--", f"arena://join?v=1&lobby={L}%3A8443&token={T}"],
    "lobby_with_query": ["--", f"arena://join?v=1&lobby={L}%2F%3Fnext%3Devil&token={T}"],
    "lobby_ftp": ["--", f"arena://join?v=1&lobby=ftp%3A%2F%2Flobby.example&token={T}"],
    "token_two_segments": ["--", f"arena://join?v=1&lobby={L}&token=abc.def"],
    "token_four_segments": ["--", f"arena://join?v=1&lobby={L}&token={T}.x"],
    "token_standard_base64": ["--", f"arena://join?v=1&lobby={L}&token=ab+c.d/e.f="],
    "url_100_kb": ["--", VALID_URL + "&" + BIG],
    "token_100_kb": ["--", f"arena://join?v=1&lobby={L}&token={BIG[:33_000]}.{BIG[:33_000]}.{BIG[:33_000]}"],
    "empty_url": ["--", ""],
    "two_arguments_after_dashes": ["--", VALID_URL, "--extra"],
    "no_dashes": [VALID_URL],
    "nothing": [],
}


def test_the_corpus_has_at_least_forty_cases() -> None:
    assert len(HOSTILE) >= 40


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    """One world for the whole corpus, with the recording client already listening."""
    from launcher import config

    world = World(tmp_path_factory.mktemp("hostile"))
    mp = pytest.MonkeyPatch()
    for name, value in world.env.items():
        if name != "PATH":
            mp.setenv(name, value)
    config.save(config.Config("arena", ["https://lobby.example"], world.client_command(), 5.0, 5.0))
    world.start_client()
    yield world
    world.cleanup()
    mp.undo()


@pytest.mark.parametrize("args", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_url_is_refused_with_nothing_launched_or_delivered(running: World, args: list[str]) -> None:
    done = running.launcher("open", *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("launcher: ")
    assert done.stderr.count("\n") == 1
    assert TOKEN not in done.stderr
    assert len(running.started()) == 1  # only the client the fixture started
    assert running.joins() == []


def test_the_valid_url_is_delivered_in_the_same_world(running: World) -> None:
    done = running.launcher("open", "--", VALID_URL)
    assert done.returncode == 0, done.stderr
    running.wait_for(lambda: running.joins(), "the join")
    assert running.joins()[-1] == {"lobby": "https://lobby.example", "token": TOKEN}
