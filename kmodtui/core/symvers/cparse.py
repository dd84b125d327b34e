"""Module.symvers parsed by the C reader (kmodtui/core/elf/kscan_symvers.c): a clean file in
~1/10th of the Python parser's time; anything odd is left to the Python parser, which words it."""

from __future__ import annotations

import ctypes
import struct
from array import array

from kmodtui.core.elf.kscan import into_buffer, library
from kmodtui.core.symvers.columns import LAYOUT_3, LAYOUT_4, LAYOUT_5, LAYOUT_5_NS3, SymversColumns


def parse_symvers_c(data: bytes) -> tuple[SymversColumns, dict[str, int]] | None:
    """A clean Module.symvers parsed in C: its columns and rows per layout (in the order first
    seen); None when the C parser leaves the file to Python (see kscan_symvers.c)."""
    lib = library()
    if lib is None or not data:
        return None
    blob = into_buffer(lambda buf, size, needed: lib.kmodtui_parse_symvers(data, len(data), buf, size,
                                                                          ctypes.byref(needed)), len(data) + 4096)
    if blob is None:
        return None
    rows = struct.unpack_from("=I", blob, 0)[0]
    order = blob[4:8]
    per_layout = struct.unpack_from("=4I", blob, 8)
    layouts = (LAYOUT_3, LAYOUT_4, LAYOUT_5_NS3, LAYOUT_5)
    layout_counts = {layouts[code]: per_layout[code] for code in order if code != 0xFF}
    pos = 24
    crcs = array("I", blob[pos : pos + 4 * rows]).tolist()
    pos += 4 * rows
    gpl_only = list(map(bool, blob[pos : pos + rows]))
    pos += rows
    # Column by column, the repeated values (modules, export types, namespaces) shared: half a million
    # rows then hold half a million names, not two million strings.
    names = str(memoryview(blob)[pos:], "ascii").split("\0", rows)
    rest = names.pop()
    del blob
    modules = rest.split("\0", rows)
    rest = modules.pop()
    modules = shared(modules)
    types_and_namespaces = shared(rest.split("\0")[: 2 * rows])
    columns = SymversColumns(names, crcs, modules, types_and_namespaces[0::2], types_and_namespaces[1::2], gpl_only)
    return columns, layout_counts


def shared(strings: list[str]) -> list[str]:
    """The same strings, equal ones made one object."""
    table: dict[str, str] = {}
    return [table.setdefault(s, s) for s in strings]
