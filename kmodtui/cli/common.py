"""What every verb shares: exit codes, printing JSON and one-line errors, naming a kernel."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from kmodtui.core.errors import KmodError, json_name, shown

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT = 0, 1, 2


def encode_json(payload: Any, indent: bool = True, *, small: bool = False) -> bytes:
    """Every --json document kmodtui prints comes from here (build's event lines: print_json_line). orjson when it is installed (about 7x json's
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


def print_json(payload: dict[str, Any]) -> None:
    from kmodtui.core.report.render import SCHEMA_VERSION

    sys.stdout.flush()
    sys.stdout.buffer.write(encode_json({"schema_version": SCHEMA_VERSION, **payload}) + b"\n")
    sys.stdout.buffer.flush()


def print_json_line(payload: dict[str, Any]) -> None:
    """One JSON object on its own line, at once (a build's events, as they happen), written as
    `build --json` always wrote them: json's separators and ASCII only (scripts grep for
    '"event": "exit"'), which escapes C1 controls and bidi overrides; DEL and undecodable names as
    encode_json writes them."""
    import json

    text = json.dumps(payload)
    if "\\ud" in text:  # a lone surrogate (or a backslash before "ud": the second pass then changes nothing)
        text = json.dumps(json_names(payload))
    print(text.replace("\x7f", "\\u007f"), flush=True)


def print_json_lines(lines: Any) -> None:
    """NDJSON: one compact object per line; the first carries schema_version."""
    from kmodtui.core.report.render import SCHEMA_VERSION

    out = sys.stdout.buffer
    sys.stdout.flush()
    first = True
    for line in lines:
        if first:
            line = {"schema_version": SCHEMA_VERSION, **line}
            first = False
        out.write(encode_json(line, indent=False) + b"\n")
    out.flush()


class TerminalText:
    """A verb's sys.stdout or sys.stderr: every text it prints goes out through shown(), newlines
    and tabs kept. Whatever input a line came from (a module's string, a log line, a results
    file, a diff of a downloaded spec), it cannot move the cursor, clear the screen, retitle the
    window or write the clipboard. Bytes written to `.buffer` (JSON, cached reports) are made safe
    where they are made (encode_json, the renderers)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(shown(text, lines=True))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, buffer, encoding, isatty, fileno: the stream's
        return getattr(self._stream, name)


def say(*lines: str) -> None:
    """Print lines that carry strings from an input (a file name, a module's version, a record's
    field): each line goes through shown(), so a newline inside a field cannot start a line."""
    print("\n".join(shown(line) for line in lines))


def error_line(err: KmodError | str) -> None:
    from kmodtui.core.errors import printable

    print(f"kmodtui: {err if isinstance(err, KmodError) else printable(err)}", file=sys.stderr)


def headers_hint() -> str:
    release = os.uname().release
    return (
        "Install the headers for your kernel, for example:\n"
        f"  Debian/Ubuntu: sudo apt-get install linux-headers-{release}\n"
        f"  Fedora/RHEL:   sudo dnf install kernel-devel-{release}\n"
        "or try the bundled demo: kmodtui --demo"
    )


def default_kernel_release() -> str:
    return os.uname().release


def kernel_from_spec(spec: str) -> Any:
    """A release, build dir, symvers file, or a headers package (.deb/.rpm, unpacked into the cache)."""
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.kernels.unpack import unpack_kernel_package
    from kmodtui.core.paths import cache_dir

    if spec.endswith((".deb", ".rpm")) and os.path.isfile(spec):
        return unpack_kernel_package(spec, cache_dir())[0]
    return find_kernel(spec)


def print_report(result: Any, kind: str, render: Any) -> None:
    """Render a report, or reuse the one an earlier run rendered from identical inputs."""
    # Reports are UTF-8; on a UTF-8 stdout (the usual case) bytes go out as they are, with no
    # second encoding of what can be megabytes (a distro tree against another ABI).
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    cached = result.cached_report(kind)
    if cached is not None:
        if utf8:
            sys.stdout.flush()
            sys.stdout.buffer.write(cached)
        else:
            sys.stdout.write(bytes(cached).decode("utf-8", "replace"))
        return
    text = render(result)
    data = text.encode("utf-8", "surrogateescape")
    result.store_report(kind, data)
    if utf8:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(text)

