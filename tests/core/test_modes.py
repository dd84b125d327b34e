"""Packaging modes are a registry (kmodtui/core/build/modes/): everyone else asks the mode, never
compares its name, and a new mode is one file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

KMODTUI = Path(__file__).resolve().parents[2] / "kmodtui"
REGISTRY = KMODTUI / "core" / "build" / "modes"
# the modes there were when the registry was made; the registry's own names are added when it exists
KNOWN_MODES = {"kbuild", "dkms", "deb", "rpm-generic", "rpm-redhat", "srpm"}


def _mode_names() -> set[str]:
    try:
        from kmodtui.core.build import modes
    except ImportError:
        return set(KNOWN_MODES)
    return KNOWN_MODES | set(modes.names())


def _is_mode_prefix(text: str, names: set[str]) -> bool:
    """"rpm-", "rpm", "srpm": a string that picks out modes by the start of their name."""
    return any(name == text or (name.startswith(text) and len(text) >= 3) for name in names)


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def mode_name_uses(path: Path, names: set[str]) -> list[str]:
    """Where a file decides by a mode's name: a comparison with one (`mode == "deb"`, `in ("deb", ...)`),
    a name test by prefix (`mode.startswith("rpm-")`), or its own list or table of several modes."""
    text = path.read_text(encoding="utf-8")
    tree = ast.parse(text)
    shown = path.relative_to(KMODTUI.parent) if KMODTUI in path.parents else path.name
    found = []
    for node in ast.walk(tree):
        where = f"{shown}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for i, operand in enumerate(operands):
                if set(_strings(operand)) & names:
                    others = " ".join(ast.get_source_segment(text, o) or "" for j, o in enumerate(operands) if j != i)
                    # deb and rpm also name package formats (Package.format, a hook record's kind) and
                    # srpm a source kind: comparing those is not comparing a mode
                    if "kind" in others or "format" in others:
                        continue
                    found.append(f"{where}: {ast.get_source_segment(text, node)}")
                    break
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("startswith", "endswith", "removeprefix", "removesuffix"):
            if any(_is_mode_prefix(s, names) for arg in node.args for s in _strings(arg)):
                found.append(f"{where}: {ast.get_source_segment(text, node)}")
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            strings = set(_strings(node))
            if len(strings) >= 2 and strings <= names:  # ("kbuild", "deb"); not the source kinds (autotools, ...)
                found.append(f"{where}: a list of modes {ast.get_source_segment(text, node)}")
        elif isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
            if len(keys) >= 2 and keys <= names:
                found.append(f"{where}: a table keyed by mode")
    by_line = {int(f.split(":")[1]): f for f in reversed(found)}  # one per line, the widest
    return [by_line[line] for line in sorted(by_line)]


def test_no_mode_name_is_compared_outside_the_registry() -> None:
    names = _mode_names()
    found = [use for path in sorted(KMODTUI.rglob("*.py")) if REGISTRY not in path.parents
             for use in mode_name_uses(path, names)]
    assert found == [], "decided by a mode's name outside kmodtui/core/build/modes/ (ask the mode instead):\n" + \
        "\n".join(found)


def test_the_name_check_sees_each_way_of_comparing(tmp_path: Path) -> None:
    """The check itself: each form the review found is caught; package formats are not modes."""
    sample = tmp_path / "sample.py"
    lines = ['if mode == "deb": pass', 'if request.mode in ("deb", "rpm-generic"): pass',
             'if mode.startswith("rpm-"): pass', 'layout = mode.removeprefix("rpm-")',
             'TOOLS = {"kbuild": 1, "dkms": 2}', 'if plan.rebuild != "rpm-redhat": pass']
    allowed = ['if package.format == "rpm": pass', 'if item["kind"] == "deb": pass', 'x = "srpm" in source.kinds']
    sample.write_text("\n".join(lines + allowed) + "\n")
    found = mode_name_uses(sample, set(KNOWN_MODES))
    assert [int(f.split(":")[1]) for f in found] == list(range(1, len(lines) + 1)), found


# ---- the plan is a value ---------------------------------------------------------------------------

def _kernel(build_dir: Path, compression: str = "xz"):
    from kmodtui.core.model import Kernel

    return Kernel(release="6.1.0-99-amd64", arch="x86_64", kbuild_arch="x86", flavor="amd64", build_dir=str(build_dir),
                  symvers_path=str(build_dir / "Module.symvers"), modversions=True, module_sig=False,
                  module_sig_force=False, module_compression=compression, compiler="gcc (Debian 12.2.0-14) 12.2.0",
                  compiler_command="gcc", host_compiler="", origin="installed")


def _sources(root: Path) -> dict[str, Path]:
    """One source of each kind a mode plans differently for, written by hand (nothing is built)."""
    kbuild = root / "hello"
    kbuild.mkdir(parents=True)
    (kbuild / "Kbuild").write_text("obj-m := hello.o\n")
    (kbuild / "hello.c").write_text("int x;\n")
    dkms = root / "withconf"
    dkms.mkdir()
    (dkms / "Makefile").write_text("obj-m := withconf.o\n")
    (dkms / "dkms.conf").write_text('PACKAGE_NAME="withconf"\nPACKAGE_VERSION="1.2"\nBUILT_MODULE_NAME[0]="withconf"\n'
                                    'DEST_MODULE_LOCATION[0]="/updates"\n')
    tree = root / "zfs-like"  # an OpenZFS-style release tree: META, configure, module/Kbuild.in, its own specs
    (tree / "module" / "zlike").mkdir(parents=True)
    (tree / "META").write_text("Name: zlike\nVersion: 2.1.11\n")
    (tree / "configure").write_text("#!/bin/sh\n")
    (tree / "configure.ac").write_text("AC_INIT\n")
    (tree / "module" / "Kbuild.in").write_text("ZLIKE_MODULES := zlike/\n")
    (tree / "module" / "zlike" / "Makefile.in").write_text("MODULE := zlike\nobj-$(CONFIG_ZLIKE) := $(MODULE).o\n")
    for layout in ("generic", "redhat"):
        (tree / "rpm" / layout).mkdir(parents=True)
        (tree / "rpm" / layout / "zlike-kmod.spec.in").write_text("Name: zlike-kmod\nVersion: 2.1.11\n")
    (tree / "scripts").mkdir()
    (tree / "scripts" / "dkms.mkconf").write_text("#!/bin/sh\n")
    srpm = root / "kmod-hello-1.0-1.src.rpm"
    srpm.write_bytes(b"")
    return {"kbuild": kbuild, "dkms": dkms, "tree": tree, "srpm": srpm}


def _listing(*roots: Path) -> list[tuple[str, int, int]]:
    """Every file and folder under the roots, with its size and mtime in ns."""
    found = []
    for root in roots:
        for path in sorted([root, *root.rglob("*")]) if root.exists() else []:
            st = path.lstat()
            found.append((str(path), st.st_size, st.st_mtime_ns))
    return found


def _forbid_processes(monkeypatch) -> None:
    import os
    import subprocess

    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started while planning: {args[:1]}")

    for name in ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
        monkeypatch.setattr(subprocess, name, refuse)
    for name in ("system", "execv", "execve", "execvp", "execvpe", "execl", "execlp", "posix_spawn", "posix_spawnp",
                 "fork", "popen"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse)


def test_a_plan_is_a_value_made_without_writing_or_running_anything(tmp_path: Path, monkeypatch) -> None:
    """plan_build on every mode and every kind of source it plans differently for (plain kbuild, a
    dkms.conf, an OpenZFS-style tree, a source RPM): the same argv, env and files twice, no file or
    folder made or touched, no process started. prepare_work then makes exactly what the plan lists."""
    import dataclasses
    import os

    from kmodtui.core.build import modes
    from kmodtui.core.build.inputs import KIND_SRPM, HostFacts, ModuleSource
    from kmodtui.core.build.plan import BuildDirs, plan_build, prepare_work
    from kmodtui.core.build.request import BuildRequest
    from kmodtui.core.build.sources import detect_source

    (tmp_path / "headers" / "scripts").mkdir(parents=True)
    kernel = _kernel(tmp_path / "headers")
    paths = _sources(tmp_path / "sources")
    sources = {kind: detect_source(str(path)) for kind, path in paths.items() if kind != "srpm"}
    sources["srpm"] = ModuleSource(str(paths["srpm"]), [KIND_SRPM], name="kmod-hello")  # read as its spec says
    host = HostFacts(kernel_image_package="linux-image-6.1.0-99-amd64", unavailable="", chroot_unavailable="",
                     provider_packages=("kmodtui-provider-modules-6.1.0-99-amd64 (= 1.0)",))
    watched = [tmp_path, Path(os.environ["KMODTUI_STATE_DIR"]), Path(os.environ["KMODTUI_CACHE_DIR"])]
    before = _listing(*watched)
    planned = []
    with monkeypatch.context() as patch:
        _forbid_processes(patch)
        for mode in modes.all_modes():
            for kind, source in sources.items():
                if not (mode.offered_for(source) or mode.claims(source)):
                    continue
                request = BuildRequest(str(paths[kind]), kernel, mode.name, sign_modules=True,
                                       extra_symbols=(str(tmp_path / "other" / "Module.symvers"),))
                dirs = BuildDirs(str(tmp_path / "work" / f"{mode.name}-{kind}"))
                first, second = (plan_build(request, source, dirs, host) for _ in range(2))
                assert first == second, (mode.name, kind)
                assert first.steps and all(step.argv for step in first.steps), (mode.name, kind)
                planned.append((mode.name, kind, first))
    assert _listing(*watched) == before  # nothing made, nothing touched
    assert not (tmp_path / "work").exists()
    assert {(m, k) for m, k, _ in planned} >= {("kbuild", "kbuild"), ("deb", "dkms"), ("dkms", "tree"),
                                               ("rpm-redhat", "tree"), ("rpm-generic", "kbuild"), ("srpm", "srpm")}
    for name, kind, plan in planned:  # the separate step: it makes what the plan lists
        prepare_work(plan)
        for tree in plan.trees:
            assert os.path.isdir(tree.dest), (name, kind, tree)
        for item in plan.files:
            with open(item.path) as f:
                assert f.read() == item.content, (name, kind, item.path)
    # a fact the plan needs that nobody asked is a mistake in the caller, not a guess
    deb_request = BuildRequest(str(paths["kbuild"]), kernel, "deb")
    with pytest.raises(ValueError, match="ask_host"):
        plan_build(deb_request, sources["kbuild"], BuildDirs(str(tmp_path / "w2")), dataclasses.replace(
            host, kernel_image_package=None))
    # and a kernel whose package nobody knows (not here, not in its root, not in the archive) is no guess either
    from kmodtui.core.errors import KmodError

    with pytest.raises(KmodError, match="--deb-depends"):
        plan_build(deb_request, sources["kbuild"], BuildDirs(str(tmp_path / "w3")), dataclasses.replace(
            host, kernel_image_package=""))


# ---- a new mode is one file -------------------------------------------------------------------------

THROWAWAY_MODE = '''
"""tarball mode (a test's throw-away): the modules kbuild makes, in a .tar.xz."""

import os

from kmodtui.core.build.modes._base import Mode
from kmodtui.core.build.modes._steps import built_modules, module_build_steps
from kmodtui.core.build.modes.kbuild import builds_modules
from kmodtui.core.build.runner import BuildStep


class TarballMode(Mode):
    name = label = "tarball"
    rank = 35
    programs = ("make", "gcc", "tar")
    package_suffix = ".tar.xz"
    builds_dkms_conf_itself = True
    story = "kbuild, then the modules in one .tar.xz."

    def listed_for(self, source):
        return builds_modules(source)

    def steps(self, planning):
        tarball = os.path.join(planning.out_dir, f"{planning.source.name}-{planning.kernel.release}.tar.xz")
        modules = built_modules(planning.source, planning.src_dir)
        return [*module_build_steps(planning), BuildStep("package", ("tar", "-cJf", tarball, *modules), planning.src_dir)]


MODES = (TarballMode(),)
'''


@pytest.fixture
def throwaway_mode(tmp_path: Path):
    """A mode module in a folder of the modes package's path, as if it were one more file there."""
    import sys

    from kmodtui.core.build import modes

    folder = tmp_path / "more_modes"
    folder.mkdir()
    (folder / "tarball.py").write_text(THROWAWAY_MODE)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(modes, "__path__", [*modes.__path__, str(folder)])
        modes._registry.cache_clear()  # the mode modules are found once per process: again
        yield modes.get("tarball")
    sys.modules.pop("kmodtui.core.build.modes.tarball", None)
    modes._registry.cache_clear()


def test_a_new_mode_is_one_file(throwaway_mode, tmp_path: Path) -> None:
    """One file in the modes folder, and every place that lists, offers, validates, plans, checks or
    installs a mode knows it: the CLI's choices, `kmodtui source`, the mode screen, a matrix, a
    request, the plan, the recheck and the kernel hook."""
    from kmodtui.cli import build_parser
    from kmodtui.core.build import modes
    from kmodtui.core.build.inputs import HostFacts
    from kmodtui.core.build.matrix import Matrix, plan
    from kmodtui.core.build.plan import BuildDirs, plan_build
    from kmodtui.core.build.recheck import built_targets
    from kmodtui.core.build.request import BuildRequest
    from kmodtui.core.build.sources import detect_source
    from kmodtui.screens.mode import ModeScreen

    assert [n for n in modes.names() if n in KNOWN_MODES | {"tarball"}] == \
        ["kbuild", "deb", "dkms", "tarball", "rpm-generic", "rpm-redhat", "srpm"]
    for argv in (["build", "-k", "K", "-s", "S", "--mode", "tarball"], ["hook", "show", "--source", "S", "--mode",
                                                                         "tarball"], ["matrix", "plan", "-m", "tarball"]):
        assert build_parser(argv).parse_args(argv).mode in ("tarball", ["tarball"])
    paths = _sources(tmp_path / "sources")
    source = detect_source(str(paths["kbuild"]))
    assert [n for n in source.modes if n in KNOWN_MODES | {"tarball"}] == ["kbuild", "deb", "tarball"]
    (tmp_path / "headers").mkdir()
    kernel = _kernel(tmp_path / "headers", compression="none")
    assert "tarball" in ModeScreen(source, kernel).modes
    assert throwaway_mode.story_for(source) == "kbuild, then the modules in one .tar.xz."
    [cell] = plan(Matrix(str(paths["kbuild"]), [kernel.release], modes=["tarball"]), find_kernels=False)
    assert cell.skipped == ""
    built = plan_build(BuildRequest(str(paths["kbuild"]), kernel, "tarball"), source, BuildDirs(str(tmp_path / "w")),
                       HostFacts())
    assert [s.phase for s in built.steps] == ["build", "package"] and built.steps[1].argv[0] == "tar"
    assert throwaway_mode.makes_packages and not throwaway_mode.signs_before_packaging
    assert built_targets("tarball", ["/b/hello.ko", "/b/hello.tar.xz"]) == ["/b/hello.ko"]  # checked as modules


def test_every_mode_answers_for_itself() -> None:
    """What the rest of kmodtui asks of each mode is there: words for the screen, programs, an order
    (the mode screen's, which --help and `kmodtui source` follow)."""
    from kmodtui.core.build import modes

    assert [n for n in modes.names() if n in KNOWN_MODES] == ["kbuild", "deb", "dkms", "rpm-generic", "rpm-redhat",
                                                              "srpm"]
    for mode in modes.all_modes():
        assert mode.label and mode.story and mode.programs, mode.name
        assert mode.makes_packages == (mode.package_suffix in (".deb", ".rpm")), mode.name
    known = [m for m in modes.all_modes() if m.name in KNOWN_MODES]
    assert [m.name for m in known if m.signs_before_packaging] == ["deb", "rpm-generic", "rpm-redhat"]
    assert [m.spec_layout for m in known if m.spec_layout] == ["generic", "redhat"]
    with pytest.raises(Exception, match="unknown build mode; choose one of kbuild, deb, dkms"):
        modes.get("tar")
