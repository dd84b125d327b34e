"""Unpacking a .deb, .rpm or tarball into a folder: the readers (streams.py) feed the safe writer
(safewrite.py); whatever goes wrong is one line naming the package, and a refused unpack is removed.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from kmodtui.core.compression import Readable, open_regular
from kmodtui.core.errors import KmodError
from kmodtui.core.packages.safewrite import MAX_TOTAL_BYTES, ExtractResult, SafeWriter
from kmodtui.core.packages.streams import DebReader, RpmReader
from kmodtui.core.packages.tarstream import TarMember


def package_format(path: str) -> str:
    """'rpm' or 'deb', judged by the file's first bytes (not its name)."""
    with open_regular(path) as f:
        try:
            head = f.read(8)
        except OSError as err:
            raise KmodError(path, err.strerror or str(err)) from None
    if head.startswith(b"\xed\xab\xee\xdb"):
        return "rpm"
    if head.startswith(b"!<arch>\n"):
        return "deb"
    raise KmodError(path, "neither an .rpm (lead magic ed ab ee db) nor a .deb (ar archive)")


def extract_package(path: str | os.PathLike[str], dest: str | os.PathLike[str],
                    max_bytes: int = MAX_TOTAL_BYTES) -> ExtractResult:
    path = os.fspath(path)
    return (extract_rpm if package_format(path) == "rpm" else extract_deb)(path, dest, max_bytes)


def run_unpack(path: str, what: str, writer: SafeWriter, fill: Callable[[SafeWriter], None]) -> ExtractResult:
    """Call fill(writer) and turn whatever goes wrong into one line; a refused unpack is removed."""
    try:
        with writer:
            fill(writer)
    except KmodError:
        raise
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise KmodError(writer.dest, f"no space left on the device while unpacking {os.path.basename(path)} "
                                         "(what was unpacked is removed)") from None
        raise KmodError(path, f"corrupt {what}: {err.strerror or err}") from None
    except (EOFError, ValueError, KeyError, UnicodeError) as err:
        raise KmodError(path, f"corrupt {what}: {err}") from None
    except Exception as err:  # rpmfile/zstandard raise their own types on corrupt input
        raise KmodError(path, f"corrupt {what}: {type(err).__name__}: {err}") from None
    return writer.result()


def extract_deb(path: str, dest: str | os.PathLike[str], max_bytes: int = MAX_TOTAL_BYTES) -> ExtractResult:
    def fill(writer: SafeWriter) -> None:
        with DebReader(path) as deb:
            for member, body in deb.data(max_bytes):
                write_tar_member(writer, member, body)

    return run_unpack(path, ".deb", SafeWriter(dest, path, max_bytes=max_bytes), fill)


def write_tar_member(writer: SafeWriter, member: TarMember, body: Readable) -> None:
    if member.isdir():
        writer.add_dir(member.name)
    elif member.isreg():
        writer.add_file(member.name, body, member.mode)
    elif member.issym():
        writer.add_symlink(member.name, member.linkname)
    elif member.islnk():
        writer.add_hardlink(member.name, member.linkname)
    else:
        writer.skip(member.name, "device node, FIFO or unknown member type; not unpacked")


def extract_rpm(path: str, dest: str | os.PathLike[str], max_bytes: int = MAX_TOTAL_BYTES) -> ExtractResult:
    def fill(writer: SafeWriter) -> None:
        with RpmReader(path) as rpm:
            for member, body in rpm.members(max_bytes):
                kind = stat.S_IFMT(member.mode)
                if kind == stat.S_IFLNK:
                    if member.size > 4096:
                        raise KmodError(path, f"symlink {member.name} has a {member.size}-byte target")
                    writer.add_symlink(member.name, body.read().decode("utf-8", "surrogateescape"))
                elif kind == stat.S_IFREG:
                    writer.add_file(member.name, body, member.mode)
                elif kind == stat.S_IFDIR:
                    writer.add_dir(member.name)
                else:
                    writer.skip(member.name, "device node or FIFO; not unpacked")

    return run_unpack(path, ".rpm", SafeWriter(dest, path, max_bytes=max_bytes), fill)


