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


def test_non_json_is_a_value_error_in_a_process_that_never_imported_json() -> None:
    """The launcher's own processes do not import `json`; the C scanner must still refuse cleanly."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from launcher import fastjson\n"
        "assert 'json.decoder' not in sys.modules\n"
        "for text in ['{not json', '[1, 2', '{\"a\": }']:\n"
        "    try:\n"
        "        fastjson.loads(text)\n"
        "    except ValueError:\n"
        "        continue\n"
        "    raise SystemExit('accepted ' + text)\n"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stderr) == (0, "")
