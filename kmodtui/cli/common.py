"""What every verb shares: exit codes, printing JSON and one-line errors, naming a kernel."""

from __future__ import annotations

import os
import sys
from typing import Any

from kmodtui.core.errors import KmodError

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT = 0, 1, 2


def encode_json(payload: Any, indent: bool = True) -> bytes:
    """orjson when it is installed (about 7x json's C encoder on a distro tree's 190k findings, and
    18x json with indent, measured in bench/), else the standard library's encoder."""
    try:
        import orjson
    except ImportError:
        import json  # here, not at the top: most runs print no JSON, and start-up counts

        text = json.dumps(payload, indent=2 if indent else None, separators=None if indent else (",", ":"))
        return text.encode()
    return orjson.dumps(payload, option=orjson.OPT_INDENT_2 if indent else 0)


def print_json(payload: dict[str, Any]) -> None:
    from kmodtui.core.report.render import SCHEMA_VERSION

    sys.stdout.flush()
    sys.stdout.buffer.write(encode_json({"schema_version": SCHEMA_VERSION, **payload}) + b"\n")
    sys.stdout.buffer.flush()


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

