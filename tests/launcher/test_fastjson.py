"""The click path's JSON reader is as strict as the listener needs."""

from __future__ import annotations

import pytest

from launcher import fastjson


def test_a_plain_document_parses() -> None:
    assert fastjson.loads(' {"ok": true, "n": [1, 2.5]}\n') == {"ok": True, "n": [1, 2.5]}


@pytest.mark.parametrize("text", ['{"a": 1, "a": 2}', "NaN", '{"a": 1} x', "", "[1,]", "{'a': 1}"])
def test_duplicates_nan_trailing_data_and_non_json_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        fastjson.loads(text)


def test_strings_are_encoded_as_ascii_json_literals() -> None:
    assert fastjson.dumps_str('a"b\\\n\u00e9') == '"a\\"b\\\\\\n\\u00e9"'
