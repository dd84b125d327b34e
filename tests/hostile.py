"""Modules whose strings talk to the terminal: built by real kbuild, then given hostile names.

kbuild builds `hostile.ko` (MODULE_AUTHOR, MODULE_LICENSE and MODULE_VERSION hold OSC 52, a
clear-screen and a bidi override straight from the C source) exporting a symbol under a
placeholder name, and `needs_hostile.ko`, which imports it. C cannot spell a symbol with an ESC in
it and modpost writes exported names unquoted into the assembler, so the placeholder (a C name of
the same length) is replaced afterwards, byte for byte, everywhere it occurs: the symbol table,
__ksymtab_strings, __versions. The files stay valid modules: modprobe and modinfo read them, and
show the raw bytes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.realtools import kbuild

OSC52 = b"\x1b]52;c;cm0gLXJmIH4K\x07"  # "write `rm -rf ~` to the clipboard"
CLEAR = b"\x1b[2J\x1b[H"
# the exported symbol: OSC 52, a clear screen, and a C1 CSI (0x9b, read as Latin-1 like every name)
SYMBOL = b"evil_" + OSC52 + b"\x1b[2J\x9b" + b"31m_fn"
PLACEHOLDER = b"evil_" + b"X" * (len(SYMBOL) - 8) + b"_fn"
AUTHOR = "Mallory \x1b[2J\x1b[H\x1b]0;pwned\x07"
LICENSE = "GPL\x1b]52;c;aGk=\x07"
VERSION = "1.0\x1b[31m\u202e"
# what must never reach a terminal: ESC, BEL, CSI in one byte and in UTF-8, an RTL override
RAW = (b"\x1b", b"\x07", b"\x9b", b"\xc2\x9b", b"\xe2\x80\xae")


def _c_string(text: str) -> str:
    """A C string literal of `text`'s UTF-8 bytes (octal escapes: always three digits, never more)."""
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\{b:03o}"
                         for b in text.encode()) + '"'


@dataclass(frozen=True)
class HostileModules:
    exporter: Path  # hostile.ko: the hostile modinfo strings and the hostile export
    consumer: Path  # needs_hostile.ko: imports the hostile symbol (its __versions names it)

    @property
    def symbol(self) -> str:
        return SYMBOL.decode("latin-1")  # as the kernel's tools and kmodtui read a symbol name


def build_hostile_modules(build_dir: str, dest: Path) -> HostileModules:
    name = PLACEHOLDER.decode()
    exporter = dest / "hostile"
    exporter.mkdir(parents=True)
    (exporter / "Kbuild").write_text("obj-m := hostile.o\n")
    (exporter / "hostile.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0\n#include <linux/module.h>\n"
        f"int {name}(int x) {{ return x + 1; }}\nEXPORT_SYMBOL({name});\n"
        "static int __init hostile_init(void) { return 0; }\nstatic void __exit hostile_exit(void) { }\n"
        "module_init(hostile_init);\nmodule_exit(hostile_exit);\n"
        f"MODULE_LICENSE({_c_string(LICENSE)});\nMODULE_AUTHOR({_c_string(AUTHOR)});\n"
        f"MODULE_VERSION({_c_string(VERSION)});\nMODULE_DESCRIPTION(\"strings that talk to the terminal\");\n")
    result = kbuild(build_dir, exporter)
    assert result.returncode == 0, result.stdout + result.stderr
    consumer = dest / "needs_hostile"
    consumer.mkdir()
    (consumer / "Kbuild").write_text("obj-m := needs_hostile.o\n")
    (consumer / "needs_hostile.c").write_text(
        "// SPDX-License-Identifier: GPL-2.0\n#include <linux/module.h>\n"
        f"extern int {name}(int);\nstatic int __init needs_init(void) {{ return {name}(1) - 2; }}\n"
        "module_init(needs_init);\nMODULE_LICENSE(\"GPL\");\n")
    result = kbuild(build_dir, consumer, f"KBUILD_EXTRA_SYMBOLS={exporter / 'Module.symvers'}")
    assert result.returncode == 0, result.stdout + result.stderr
    built = HostileModules(dest / "hostile.ko", dest / "needs_hostile.ko")
    for made, path in ((exporter / "hostile.ko", built.exporter), (consumer / "needs_hostile.ko", built.consumer)):
        data = made.read_bytes()
        assert PLACEHOLDER in data
        path.write_bytes(data.replace(PLACEHOLDER, SYMBOL))
    shutil.rmtree(exporter)
    shutil.rmtree(consumer)
    return built
