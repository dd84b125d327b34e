"""The bytes of every JSON document kmodtui prints: one encoder (orjson when installed), one rule for
names that are not UTF-8 and for what a terminal would act on, and the framing of a document, of
NDJSON lines and of build's event lines. The CLI writes what these return."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from kmodtui.core.errors import json_name
from kmodtui.core.report.render import SCHEMA_VERSION


def encode_json(payload: Any, indent: bool = True, *, small: bool = False) -> bytes:
    """Every --json document kmodtui prints comes from here (build's event lines: event_line). orjson when it is installed (about 7x json's
    C encoder on a distro tree's 190k findings, and 18x json with indent, measured in bench/), else,
    or for a `small` payload (sparing a run orjson's import, ~10 ms), the standard library's encoder.
    A name that was not UTF-8 (a file name's byte 0xff, carried as a lone surrogate, which orjson
    refuses and UTF-8 cannot hold) is written as the text `\\xff`, as the text output shows it; what a
    terminal would act on (C1 controls, DEL, bidi overrides) as `\\u009b`, the same string to a
    JSON reader (README, "Headless use")."""
    try:
        data = _encode(payload, indent, small)
    except (TypeError, UnicodeEncodeError):  # orjson.JSONEncodeError is a TypeError
        data = _encode(json_names(payload), indent, small)
    # single bytes: memchr (5 ms over a distro tree's 50 MB); b"\xe2\x80" would take 90 ms
    if b"\x7f" in data or b"\xc2" in data or b"\xe2" in data:
        data = _JSON_TERMINAL.sub(_json_escape, data)
    return data


def compact_json(payload: Any) -> bytes:
    """encode_json without indentation: the pieces of a large answer and NDJSON lines."""
    return encode_json(payload, indent=False)


# in UTF-8: DEL, U+0080-U+009F (C1), U+202A-U+202E and U+2066-U+2069 (bidi overrides, isolates)
_JSON_TERMINAL = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def _json_escape(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match[0].decode())


def _encode(payload: Any, indent: bool, small: bool) -> bytes:
    if not small:
        try:
            import orjson
        except ImportError:
            pass
        else:
            return orjson.dumps(payload, option=orjson.OPT_INDENT_2 if indent else 0)
    import json  # here, not at the top: most runs print no JSON, and start-up counts

    return json.dumps(payload, indent=2 if indent else None, separators=None if indent else (",", ":"),
                      ensure_ascii=False).encode()


def json_names(value: Any) -> Any:
    """`value` with every string (keys too) holding undecodable bytes rewritten by json_name."""
    if isinstance(value, str):
        return json_name(value)
    if isinstance(value, dict):
        return {json_names(k): json_names(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_names(v) for v in value]
    return value


def json_document(payload: dict[str, Any]) -> bytes:
    """A verb's --json output: its object with `schema_version` first, indented, and a newline."""
    return encode_json({"schema_version": SCHEMA_VERSION, **payload}) + b"\n"


def json_lines(lines: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """NDJSON: one compact object per line; the first carries schema_version."""
    first = True
    for line in lines:
        if first:
            line = {"schema_version": SCHEMA_VERSION, **line}
            first = False
        yield compact_json(line) + b"\n"


def event_line(payload: dict[str, Any]) -> str:
    """One JSON object on its own line, as `build --json` always wrote them: json's separators and
    ASCII only (scripts grep for '"event": "exit"'), which escapes C1 controls and bidi overrides;
    DEL and undecodable names as encode_json writes them."""
    import json

    text = json.dumps(payload)
    if "\\ud" in text:  # a lone surrogate (or a backslash before "ud": the second pass then changes nothing)
        text = json.dumps(json_names(payload))
    return text.replace("\x7f", "\\u007f")
