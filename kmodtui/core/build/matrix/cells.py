"""A build matrix's cells: read from a matrix file or the command line, planned (every kernel x arch x
mode, the ones the source excludes skipped with the reason), and run here on kmodtui's own detached
builds. The matrix file is described in kmodtui/core/build/matrix/__init__.py."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from kmodtui.core import scriptnames
from kmodtui.core.build import modes
from kmodtui.core.build.matrix import arches
from kmodtui.core.errors import KmodError
from kmodtui.core.vocabulary import CellSkip

MATRIX_FILE = "kmodtui-matrix.toml"
KEYS = {"source", "kernels", "arches", "modes"}
CONTAINER = "debian:bookworm"  # cells build in a Debian container, which installs each cell's headers


@dataclass
class Matrix:
    source: str
    kernels: list[str]
    arches: list[str] = field(default_factory=list)  # empty: the kernels' own arch
    modes: list[str] = field(default_factory=lambda: ["kbuild"])
    origin: str = ""  # the matrix file it came from ("" = the command line), named in errors


@dataclass(frozen=True)
class Cell:
    kernel: str  # as `build --kernel` takes it
    release: str
    arch: str  # "" = native
    mode: str
    skipped: str = ""  # why this cell is not built ("" = it is)
    cause: str = ""  # the word for it (vocabulary.CellSkip): out_of_range, mode_not_offered, wrong_arch

    @property
    def name(self) -> str:
        """Safe as a CI job and artifact name (no ':' or '/': debian:trixie is debian-trixie)."""
        raw = "-".join(p for p in (self.release, self.arch, self.mode) if p)
        return "".join(c if c.isalnum() or c in "._+-" else "-" for c in raw)

    def argv(self, source: str) -> list[str]:
        argv = ["kmodtui", "build", "--json", "--source", source, "--kernel", self.kernel, "--mode", self.mode]
        return argv + (["--arch", self.arch] if self.arch else [])

    def command(self, source: str) -> str:
        return scriptnames.shell_words(self.argv(source))

    @property
    def image(self) -> str:
        """The container a CI runner builds this cell in: the release's own for a distro kernel
        (debian:trixie builds with trixie's compiler), else the default."""
        if self.kernel.startswith("debian:"):
            return "debian:" + self.kernel.split(":")[1]
        return CONTAINER


def load_matrix(path: str) -> Matrix:
    """A matrix file; unknown keys and wrong types are one clear error naming the key."""
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    except tomllib.TOMLDecodeError as err:
        raise KmodError(path, f"not valid TOML: {err}") from None
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise KmodError(path, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    for key in ("kernels", "arches", "modes"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise KmodError(path, f"{key} must be a list of strings")
    if not isinstance(data.get("source", "."), str):
        raise KmodError(path, "source must be a string (a folder, a tarball or a -dkms .deb)")
    if not data.get("kernels"):
        raise KmodError(path, "kernels is missing or empty: name at least one kernel (as `build --kernel` takes it)")
    base = os.path.dirname(os.path.abspath(path))
    return Matrix(source=os.path.normpath(os.path.join(base, data.get("source", "."))), kernels=list(data["kernels"]),
                  arches=list(data.get("arches", [])), modes=list(data.get("modes", ["kbuild"])), origin=path)


def check_names(matrix: Matrix) -> None:
    """Kernels, arches and modes go into CI workflows and build commands: each must be what its kind
    can be (a GitHub workflow substitutes ${{ }} anywhere, so no quoting can make an odd one safe)."""
    scriptnames.check_all(scriptnames.KERNEL_SPEC, matrix.kernels, matrix.origin or "--kernel")
    scriptnames.check_all(scriptnames.ARCH, matrix.arches, matrix.origin or "--arch")
    for mode in matrix.modes:
        if modes.find(mode) is None:
            raise KmodError(matrix.origin or mode, f"unknown build mode {scriptnames.yaml(mode)}; choose from "
                                                   f"{', '.join(modes.names())}")


def plan(matrix: Matrix, find_kernels: bool = True) -> list[Cell]:
    """Every (kernel, arch, mode) cell; a kernel that cannot be found is one error naming it.
    find_kernels=False (a CI plan job, where the cells' headers are not installed yet) takes each
    kernel as written: its release is the name, the range check reads it as a version."""
    from kmodtui.core.build.request import kernel_from_spec
    from kmodtui.core.build.sources import detect_source, out_of_range

    check_names(matrix)
    source = detect_source(matrix.source)
    cells = []
    pairs: list[tuple[str, str]] = []  # (kernel spec, arch to cross-build for)
    for spec in matrix.kernels:
        for arch in matrix.arches or [""]:
            if spec.startswith("debian:") and spec.count(":") == 1 and arch:
                pairs.append((f"{spec}:{arch}", ""))  # that release's headers for that arch: its own tree
            else:
                pairs.append((spec, arch))
    found: dict[str, tuple[str, str, str]] = {}  # spec -> (release, uname arch or "", build dir)
    for spec, arch in pairs:
        if spec not in found:
            if find_kernels:
                kernel = kernel_from_spec(spec)  # raises naming the kernel
                found[spec] = (scriptnames.check(scriptnames.KERNEL_RELEASE, kernel.release, kernel.build_dir or spec),
                               kernel.arch, kernel.build_dir)
            else:
                release = os.path.basename(spec.rstrip("/"))
                found[spec] = (release, arches.release_arch(release), "")
        release, native, build_dir = found[spec]
        reason = out_of_range(release, source)
        refused = ""
        if arch and native and not arches.is_kernel_arch(arch, native):
            refused = arches.wrong_arch_reason(spec, release, native, arch, build_dir)
        for mode in matrix.modes:
            cause: str
            if refused:
                cause, skip = CellSkip.WRONG_ARCH, refused
            elif reason:
                cause, skip = CellSkip.OUT_OF_RANGE, reason
            elif not modes.get(mode).planned_for(source):
                cause, skip = CellSkip.MODE_NOT_OFFERED, f"the source has no {mode} build (its modes: {', '.join(source.modes)})"
            else:
                cause, skip = "", ""
            own = not arch or bool(native and arches.is_kernel_arch(arch, native))  # --arch amd64 of an amd64 kernel
            cells.append(Cell(spec, release, "" if own else arch, mode, skip, str(cause)))
    return cells


def refuse_wrong_arch(matrix: Matrix, cells: list[Cell]) -> None:
    """Building or exporting a matrix with a cell for another arch than its kernel's headers is one
    error naming the cell (plan lists such cells, with the headers to use)."""
    for cell in cells:
        if cell.cause == CellSkip.WRONG_ARCH:
            raise KmodError(matrix.origin or "--arch", f"cell {cell.name}: {cell.skipped}")


def plan_json(matrix: Matrix, cells: list[Cell]) -> dict[str, Any]:
    return {"source": matrix.source,
            "cells": [{**asdict(c), "name": c.name, "command": None if c.skipped else c.command(matrix.source)}
                      for c in cells]}


# ---- run here ----------------------------------------------------------------------------------

def run(matrix: Matrix, cells: list[Cell]) -> tuple[list[str], list[Cell]]:
    """Start the cells that are not skipped and not already built for the same request (a cell that
    succeeded before is not rebuilt: the run is resumable). Returns (new records, cells reused)."""
    from kmodtui.core.build.job import start_requests
    from kmodtui.core.build.record import SUCCEEDED, list_builds
    from kmodtui.core.build.request import load_request, make_request, request_json

    wanted = [c for c in cells if not c.skipped]
    requests = [make_request(matrix.source, c.kernel, c.mode, arch=c.arch) for c in wanted]
    done: set[str] = set()
    for record in list_builds():
        if record.get("state") != SUCCEEDED:
            continue
        try:
            done.add(json.dumps(request_json(load_request(record["dir"])), sort_keys=True))
        except KmodError:
            continue
    todo, reused = [], []
    for cell, request in zip(wanted, requests):
        if json.dumps(request_json(request), sort_keys=True) in done:
            reused.append(cell)
        else:
            todo.append(request)
    return (start_requests(todo) if todo else []), reused
