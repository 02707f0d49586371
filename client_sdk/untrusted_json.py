"""JSON from untrusted bytes (tokens, handshake lines, lobby replies), decoded with bounds.

`json.loads` alone recurses once per nesting level (`[` repeated 1,400 times raises
`RecursionError`, not `ValueError`), and accepts a lone surrogate escape (`"\\ud800"`) that no
UTF-8 store or encoder can take afterwards. `loads` refuses both, and input that is not UTF-8, as
`UntrustedJSONError`, a `ValueError`, so every caller's existing `ValueError` handling covers it.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET_STEP = str.maketrans({"[": "+", "{": "+", "]": "-", "}": "-"})


class UntrustedJSONError(ValueError):
    """The input is not acceptable JSON: not UTF-8, not JSON, too deeply nested, or a lone surrogate."""


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in the JSON `text` (brackets inside strings do not count)."""
    steps = _STRING.sub("", text)
    steps = "".join(c for c in steps if c in "[]{}").translate(_BRACKET_STEP)
    return max(accumulate(1 if step == "+" else -1 for step in steps), default=0)


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `data`, refusing bad UTF-8, nesting deeper than `max_depth` and lone surrogates."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        if not text.isascii():
            text.encode("utf-8")  # a str may itself hold a lone surrogate
    except UnicodeError:
        raise UntrustedJSONError("not UTF-8 text") from None
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise UntrustedJSONError(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text)
    except ValueError:
        raise UntrustedJSONError("not JSON") from None
    if "\\u" in text:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise UntrustedJSONError("JSON with a lone surrogate escape") from None
    return value
