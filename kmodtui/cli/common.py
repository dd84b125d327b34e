"""What every verb shares: exit codes, printing JSON and one-line errors, naming a kernel."""

from __future__ import annotations

import os
import sys
from typing import Any

from kmodtui.core.errors import KmodError, shown

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT = 0, 1, 2


def print_json(payload: dict[str, Any]) -> None:
    """A verb's --json document (core/report/encode.py makes its bytes)."""
    from kmodtui.core.report.encode import json_document

    sys.stdout.flush()
    sys.stdout.buffer.write(json_document(payload))
    sys.stdout.buffer.flush()


def print_json_line(payload: dict[str, Any]) -> None:
    """One JSON object on its own line, at once (a build's events, as they happen)."""
    from kmodtui.core.report.encode import event_line

    print(event_line(payload), flush=True)


def print_json_lines(lines: Any) -> None:
    """NDJSON: one compact object per line; the first carries schema_version."""
    from kmodtui.core.report.encode import json_lines

    out = sys.stdout.buffer
    sys.stdout.flush()
    out.writelines(json_lines(lines))
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
    from kmodtui.core.report.stream import text_report

    data, text = text_report(result, kind, render)
    # Reports are UTF-8; on a UTF-8 stdout (the usual case) bytes go out as they are, with no
    # second encoding of what can be megabytes (a distro tree against another ABI).
    if (sys.stdout.encoding or "").lower().replace("-", "") == "utf8":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(text if text is not None else bytes(data).decode("utf-8", "replace"))
