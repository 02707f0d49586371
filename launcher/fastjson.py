"""Strict JSON for the click path, on CPython's C scanner so that `json` (and `re`) stay unimported.

Importing `json` costs about as much as starting the interpreter, because it imports `re`; the
launcher reads one small config file and one reply per click, so it uses the C accelerator that
`json` itself is built on, and falls back to `json` where that accelerator is missing. The C scanner
builds its error from `json.decoder.JSONDecodeError` only when `json.decoder` is already imported;
otherwise it fails with a `SystemError` carrying no message, which is read here as "not JSON".
"""

from __future__ import annotations

DUPLICATE_KEYS_MESSAGE = "objects with duplicate keys are refused"


class _Context:
    """The attributes `_json.make_scanner` reads from a `json.JSONDecoder`."""

    strict = True
    object_hook = None
    parse_float = float
    parse_int = int
    memo: dict[str, str]

    def __init__(self) -> None:
        self.memo = {}

    @staticmethod
    def object_pairs_hook(pairs: list[tuple[str, object]]) -> dict[str, object]:
        """Build a dict, refusing duplicate keys (the stdlib silently keeps the last one)."""
        result = dict(pairs)
        if len(result) != len(pairs):
            raise ValueError(DUPLICATE_KEYS_MESSAGE)
        return result

    @staticmethod
    def parse_constant(name: str) -> object:
        """Refuse NaN and Infinity, which are not JSON."""
        raise ValueError(f"{name} is not JSON")


def loads(text: str) -> object:
    """Parse one JSON document strictly (no duplicate keys, no NaN, nothing after it)."""
    try:
        from _json import make_scanner
    except ImportError:  # pragma: no cover - only on interpreters without the accelerator
        import json

        try:
            return json.loads(
                text,
                object_pairs_hook=_Context.object_pairs_hook,
                parse_constant=_Context.parse_constant,
            )
        except RecursionError:
            raise ValueError("the JSON document is nested too deeply") from None
    scan = make_scanner(_Context())
    start = _skip_space(text, 0)
    try:
        value, end = scan(text, start)
    except StopIteration:
        raise ValueError("not a JSON document") from None
    except SystemError:  # a decode error raised while json.decoder is not imported
        raise ValueError("not a JSON document") from None
    except RecursionError:
        raise ValueError("the JSON document is nested too deeply") from None
    if _skip_space(text, end) != len(text):
        raise ValueError("extra data after the JSON document")
    return value


def dumps_str(value: str) -> str:
    """Encode one string as an ASCII-only JSON string literal, quotes included."""
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # pragma: no cover - only on interpreters without the accelerator
        import json

        return json.dumps(value, ensure_ascii=True)
    return encode_basestring_ascii(value)


def _skip_space(text: str, index: int) -> int:
    """Return the index of the first non-whitespace character at or after `index`."""
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index
