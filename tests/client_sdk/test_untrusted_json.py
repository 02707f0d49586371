"""Untrusted JSON is decoded with bounds: nesting, lone surrogates and bad UTF-8 are `ValueError`s."""

from __future__ import annotations

import pytest

from client_sdk.untrusted_json import MAX_DEPTH, UntrustedJSONError, loads, nesting_depth


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 1400,
        "[" * 100_000,
        b"{" + b'"a":{' * (MAX_DEPTH + 1) + b"}" * (MAX_DEPTH + 2),
        b'{"jti": "\\ud800"}',
        b'{"\\udfff": 1}',
        '{"jti": "\ud800"}',
        b'{"name": "\xed\xa0\x80"}',
        b"\xff\xfe",
        b"{",
    ],
)
def test_hostile_json_is_refused_as_a_value_error(data: bytes | str) -> None:
    with pytest.raises(UntrustedJSONError):
        loads(data)
    assert issubclass(UntrustedJSONError, ValueError)


def test_ordinary_json_decodes_as_json_does() -> None:
    assert loads(b'{"a": [1, {"b": "\\ud83c\\udfae"}], "c": "[[[[{{{{"}') == {
        "a": [1, {"b": "\U0001f3ae"}],
        "c": "[[[[{{{{",
    }
    assert loads('"' + "[" * 1000 + '"') == "[" * 1000
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) == loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert nesting_depth('["[[[", {"k": "}}}\\"[["}]') == 2
    assert nesting_depth("7") == 0
