"""The one place where a verb's inputs are checked before it runs (README, "The CLI contract").

Each verb declares its file arguments with `p.set_defaults(inputs={dest: KIND, ...})`, and options
required together with `required=(...)`. Before the verb runs, every declared path must exist and
be of its kind by its first bytes (a module is ELF or compressed, a package an ar archive or an
RPM lead, a source a folder, a tarball or a package...): the first one that is not stops the run
with one line `kmodtui: <file>: <what is wrong>` (exit 2), before anything is printed, unpacked,
built or recorded. What only a full parse can tell (a truncated ELF) stays the verb's own error.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable

from kmodtui.core.errors import KmodError

ELF = (b"\x7fELF",)
COMPRESSED = (b"\x1f\x8b", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd", b"BZh")
DEB, RPM = b"!<arch>\n", b"\xed\xab\xee\xdb"


def _head(path: str) -> bytes:
    """The first bytes of a regular file (a FIFO or a device is refused, never waited on)."""
    from kmodtui.core.compression import open_regular

    try:
        with open_regular(path) as f:
            return f.read(8192)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start > len(head) - 4  # a character cut by the 8 KiB read
    return True


def _is_tar(head: bytes) -> bool:
    return head.startswith(COMPRESSED) or head[257:262] == b"ustar"


# kind -> (takes a folder, takes a file, test of a file's first bytes, what the file should be)
Check = tuple[bool, bool, Callable[[bytes], bool] | None, str]  # None: any file, its reader decides
KINDS: dict[str, Check] = {
    "module": (False, True, lambda h: h.startswith(ELF + COMPRESSED), "a kernel module (.ko, ELF or compressed)"),
    "package": (False, True, lambda h: h.startswith((DEB, RPM)), "a package (.deb or .rpm)"),
    "module-or-package": (False, True, lambda h: h.startswith(ELF + COMPRESSED + (DEB, RPM)),
                          "a kernel module (.ko) or a package (.deb, .rpm)"),
    "target": (True, True, lambda h: h.startswith(ELF + COMPRESSED + (DEB, RPM)),
               "a kernel module (.ko), a folder of modules or a package (.deb, .rpm)"),
    "source": (True, True, lambda h: _is_tar(h) or h.startswith((DEB, RPM)),
               "a module source (a folder, a source tarball, a *-dkms .deb or a .src.rpm)"),
    "source-or-spec": (True, True, lambda h: _is_tar(h) or h.startswith((DEB, RPM)) or _is_text(h),
                       "a module source (a folder, a tarball, a *-dkms .deb, a .src.rpm or a .spec)"),
    "kernel": (True, True, lambda h: h.startswith(COMPRESSED + (DEB, RPM)) or _is_text(h),
               "a kernel (a release, a build folder, a Module.symvers file or a headers package)"),
    "text": (False, True, _is_text, "a text file"),
    "log": (False, True, None, "a log file"),  # a pipe too: diagnose <(dmesg)
    "folder": (True, False, None, "a folder"),
    "new-folder": (True, False, None, "a folder"),
    "file-or-folder": (True, True, None, "a file or a folder"),
}
KERNEL_TREE_FILES = ("Module.symvers", "Makefile", ".config")
SOURCE_FILES = ("dkms.conf", "Kbuild", "Makefile", "configure", "configure.ac", "META", "*.spec", "rpm/")


def _is_source_folder(folder: str) -> bool:
    """What detect_source reads a source from is there (whether it makes sense is its own to say)."""
    try:
        names = set(os.listdir(folder))
    except OSError as err:
        raise KmodError(folder, err.strerror or str(err)) from None
    return (bool(names & set(SOURCE_FILES)) or any(n.endswith(".spec") for n in names)
            or os.path.isdir(os.path.join(folder, "rpm")))
MODULE_SUFFIXES = (".ko", ".ko.gz", ".ko.xz", ".ko.zst")


def _holds_a_module(folder: str) -> bool:
    """A folder of modules: the walk stops at the first one (a distro tree finds one at once)."""
    for _, _, files in os.walk(folder):
        if any(name.endswith(MODULE_SUFFIXES) for name in files):
            return True
    return False


# what a folder of a kind must hold: its test and, when it fails, what is wrong
FOLDER_CHECKS: dict[str, tuple[Callable[[str], bool], str]] = {
    "kernel": (lambda p: any(os.path.exists(os.path.join(p, f)) for f in KERNEL_TREE_FILES),
               f"is not a kernel build tree (no {', '.join(KERNEL_TREE_FILES)})"),
    "target": (_holds_a_module, "holds no kernel module (.ko, .ko.gz, .ko.xz, .ko.zst)"),
    "source": (_is_source_folder,
               f"is not a module source: it has none of {', '.join(SOURCE_FILES)}"),
}
FOLDER_CHECKS["source-or-spec"] = FOLDER_CHECKS["source"]


def _is_path(kind: str, value: str) -> bool:
    """A kernel is also a release or debian:<release>; a release never holds a slash."""
    if value == "-" and kind == "log":
        return False
    return kind != "kernel" or "/" in value or value.endswith((".deb", ".rpm", ".gz", "symvers"))


def check_path(kind: str, path: str) -> None:
    takes_folder, takes_file, looks_right, what = KINDS[kind]
    if not os.path.lexists(path) and kind == "new-folder":
        return
    if not os.path.exists(path):
        raise KmodError(path, f"no such file or folder (expected {what})")
    if os.path.isdir(path):
        if not takes_folder:
            raise KmodError(path, f"is a folder, not {what}")
        holds, wrong = FOLDER_CHECKS.get(kind, (lambda p: True, ""))
        if not holds(path):
            raise KmodError(path, wrong)
        return
    if not takes_file:
        raise KmodError(path, f"is a file, not {what}")
    if looks_right is not None and not looks_right(_head(path)):
        raise KmodError(path, f"is not {what}")


def _values(value: object) -> Iterable[str]:
    if isinstance(value, str):
        return [value]
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []


def check_inputs(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse a verb's bad inputs before it runs: usage errors as argparse says them, paths in one line."""
    required = getattr(args, "required", ())
    if required and not getattr(args, getattr(args, "required_unless", "") or "-", None):
        missing = [f"--{dest.replace('_', '-')}" for dest in required if not getattr(args, dest, None)]
        if missing:
            verb_parser(parser, args.command).error(f"the following arguments are required: {', '.join(missing)}")
    for dest, kind in (getattr(args, "inputs", None) or {}).items():
        for value in _values(getattr(args, dest, None)):
            if _is_path(kind, value):
                check_path(kind, value)


def verb_parser(parser: argparse.ArgumentParser, verb: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and verb in action.choices:
            chosen: argparse.ArgumentParser = action.choices[verb]
            return chosen
    return parser
