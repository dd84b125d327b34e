"""Autotools trees kmodtui knows by name, as data: what marks one, where its name, version, kernel
modules, kernel list and spec are read, and how its own build system makes its modules against another
out-of-tree module's built tree (Lustre's osd-zfs against OpenZFS). Read, never executed; adding a
tree is one entry in TREES. An OpenZFS-style tree (META, module/Kbuild.in) is read by sources.py."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from kmodtui.core.build.inputs import ModuleSource


@dataclass(frozen=True)
class ProviderUse:
    """Another out-of-tree module the tree's configure is pointed at: its source's name (META Name),
    the automake conditional under which the modules that need it are built, the configure options
    naming its built tree ({tree} is replaced), and where the tree must carry its Module.symvers."""

    name: str
    condition: str
    configure: tuple[str, ...]
    symvers_at_top: bool = True  # Lustre's configure checks compile against <tree>/Module.symvers


@dataclass(frozen=True)
class TreeKind:
    name: str
    markers: tuple[str, ...]  # files that all exist at the top of such a tree
    name_file: str
    # the package name is AC_INIT's last argument, the tarname (read by _ac_init_tarname, no regex)
    version_file: str
    version_pattern: re.Pattern[str]  # group "v": the version
    module_roots: tuple[str, ...]  # folders whose Makefile.in lists obj-m folders and MODULES
    changelog: str  # where the kernels it was built on are listed (top entry)
    spec: str
    autogen: tuple[str, ...]  # run in the build's copy when it has no configure
    configure: tuple[str, ...]  # options after --with-linux/--with-linux-obj: the modules only
    make: tuple[str, ...]  # at the top of the tree: the kernel modules only
    # what autogen and configure need here: (a program, or a header's path), its Debian package, its Fedora one
    requires: tuple[tuple[str, str, str], ...]
    providers: tuple[ProviderUse, ...] = ()


_DEFAULT_VERSION = re.compile(r"^DEFAULT_VERSION=(?P<v>[\w.]+)[ \t]*$", re.M)

LUSTRE = TreeKind(
    name="lustre",
    markers=("LUSTRE-VERSION-GEN", "lustre/ChangeLog", "configure.ac"),
    name_file="configure.ac",  # AC_INIT's last argument, the tarname
    version_file="LUSTRE-VERSION-GEN", version_pattern=_DEFAULT_VERSION,
    module_roots=("libcfs", "lnet", "lustre"),
    changelog="lustre/ChangeLog",
    spec="lustre.spec.in",
    autogen=("bash", "autogen.sh"),
    configure=("--disable-ldiskfs", "--with-o2ib=no", "--disable-tests", "--disable-iokit", "--disable-gss",
               "--disable-utils", "--disable-doc"),
    # the kernel modules only: the top `make` goes on into lustre/tests, which needs test disk images
    # a git snapshot may lack
    make=("make", "modules"),
    requires=(("autoconf", "autoconf", "autoconf"), ("automake", "automake", "automake"),
              ("libtoolize", "libtool", "libtool"), ("flex", "flex", "flex"), ("bison", "bison", "bison"),
              ("pkg-config", "pkg-config", "pkgconf-pkg-config"),
              # configure requires these libraries' headers even with --disable-utils (LB_LIBMOUNT,
              # LN_CONFIG_DLC's libyaml, LNet's libnl-genl-3.0, LC_CONFIGURE's zlib)
              ("/usr/include/libmount/libmount.h", "libmount-dev", "libmount-devel"),
              ("/usr/include/libnl3/netlink/genl/genl.h", "libnl-genl-3-dev", "libnl3-devel"),
              ("/usr/include/yaml.h", "libyaml-dev", "libyaml-devel"),
              ("/usr/include/zlib.h", "zlib1g-dev", "zlib-devel")),
    providers=(ProviderUse("zfs", "ZFS_ENABLED", ("--with-zfs={tree}", "--with-zfs-obj={tree}")),),
)

TREES = (LUSTRE,)


def match(path: str) -> TreeKind | None:
    """The known tree `path` is the top of, or None."""
    return next((t for t in TREES if all(os.path.isfile(os.path.join(path, m)) for m in t.markers)), None)


def missing_requirements(tree: TreeKind) -> str:
    """The install command for what this host lacks of the tree's requirements ("" = nothing)."""
    from kmodtui.core.build.tools import find_program, package_manager

    missing = [r for r in tree.requires if not (os.path.isfile(r[0]) if r[0].startswith("/") else find_program(r[0]))]
    if not missing:
        return ""
    if package_manager() == "dnf":
        return "sudo dnf install " + " ".join(r[2] for r in missing)
    return "sudo apt-get install " + " ".join(r[1] for r in missing)


def by_name(name: str) -> TreeKind | None:
    return next((t for t in TREES if t.name == name), None)


def built_module_folders(source: ModuleSource) -> tuple[str, ...]:
    """Where an autotools tree's build leaves its .ko files, relative to the tree: OpenZFS's module/;
    for a tree kmodtui knows by name, its module roots (Lustre's libcfs/, lnet/, lustre/: not its
    configure's compile tests, kconftest.results/*/conftest.ko)."""
    tree = by_name(source.tree) if source.tree else None
    return tree.module_roots if tree is not None else ("module",)


def _text(path: str, limit: int = 512 * 1024) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def _first(path: str, pattern: re.Pattern[str]) -> str:
    found = pattern.search(_text(path))
    return found.group("v")[:200] if found else ""


_TARNAME = re.compile(r"[\w.-]{1,200}")


def _ac_init_tarname(path: str) -> str:
    """AC_INIT's last argument when it is a quoted word (`AC_INIT([Lustre], ..., [lustre])`): the first
    AC_INIT( and its parenthesis, found by counting within 4 KB (no regex: nothing to backtrack)."""
    text = _text(path)
    start = text.find("AC_INIT(")
    if start < 0:
        return ""
    depth, body = 0, ""
    for at in range(start + len("AC_INIT"), min(len(text), start + 4096)):
        depth += {"(": 1, ")": -1}.get(text[at], 0)
        if depth == 0:
            body = text[start + len("AC_INIT("):at].rstrip()
            break
    if not body.endswith("]"):
        return ""
    word = body[body.rfind("[") + 1:-1]
    return word if _TARNAME.fullmatch(word) else ""


# ---- the kernel modules, from the Makefile.in files automake leaves alone ---------------------------

_CONDITION = re.compile(r"@(?P<name>\w+?)_(?P<value>TRUE|FALSE)@")
_ASSIGN = re.compile(r"^(?P<conds>(?:@\w+@)*)[ \t]*(?P<var>[\w-]+)[ \t]*[+:]?=[ \t]*(?P<items>.*)$")
_IF = re.compile(r"^[ \t]*if(?:n?eq|n?def)\b[ \t]*(?P<test>.*)$")
MAX_FOLDERS = 256


def _conditions(prefix: str) -> tuple[str, ...]:
    return tuple(m.group("name") if m.group("value") == "TRUE" else f"not {m.group('name')}"
                 for m in _CONDITION.finditer(prefix))


def _read_makefile(folder: str) -> tuple[list[tuple[str, tuple[str, ...]]], list[tuple[str, tuple[str, ...]]]]:
    """(modules, subfolders) a Makefile.in names, each with the conditions it is built under."""
    text = _text(os.path.join(folder, "Makefile.in"), 64 * 1024)
    variables: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    modules: list[tuple[str, tuple[str, ...]]] = []
    subdirs: list[tuple[str, tuple[str, ...]]] = []
    block: list[str] = []  # make's own ifeq/ifneq around lines
    for line in text.splitlines():
        if _IF.match(line):
            block.append(_IF.match(line).group("test").strip()[:60])  # type: ignore[union-attr]
            continue
        if line.strip() == "endif" and block:
            block.pop()
            continue
        found = _ASSIGN.match(line)
        if not found:
            continue
        conds = _conditions(found.group("conds")) + tuple(f"make: {b}" for b in block)
        items = found.group("items").split()
        if found.group("var") == "MODULES":
            modules += [(m, conds) for m in items if re.fullmatch(r"[\w-]+", m)]
        elif found.group("var") == "obj-m":
            for item in items:
                ref = re.fullmatch(r"\$\((?P<var>[\w-]+)\)", item)
                if ref:
                    subdirs += [(d, conds + c) for d, c in variables.get(ref.group("var"), [])]
                elif item.endswith("/"):
                    subdirs.append((item, conds))
        elif items and all(i.endswith("/") for i in items):
            variables.setdefault(found.group("var"), []).extend((i, conds) for i in items)
    return modules, subdirs


def modules_of(path: str, tree: TreeKind) -> list[tuple[str, tuple[str, ...]]]:
    """Every kernel module the tree's Makefile.in files name, from its roots down the obj-m folders,
    with the conditions (automake's, make's) it is built under; bounded, never outside the tree."""
    top = os.path.realpath(path)
    found: list[tuple[str, tuple[str, ...]]] = []
    pending: list[tuple[str, tuple[str, ...]]] = [(os.path.join(top, r), ()) for r in reversed(tree.module_roots)]
    seen: set[str] = set()
    while pending and len(seen) < MAX_FOLDERS:
        folder, conds = pending.pop()
        real = os.path.realpath(folder)
        if real in seen or not real.startswith(top + os.sep) or not os.path.isdir(real):
            continue
        seen.add(real)
        modules, subdirs = _read_makefile(real)
        found += [(m, tuple(dict.fromkeys(conds + c))) for m, c in modules if m not in {n for n, _ in found}]
        pending += [(os.path.join(real, d), conds + c) for d, c in reversed(subdirs)]
    return found


# ---- the kernels the ChangeLog lists --------------------------------------------------------------

_ENTRY = re.compile(r"^\d{4}-\d{2}-\d{2}\s", re.M)
# possessive: the suffix class takes every character the version could give back, so nothing is retried
_KERNEL = re.compile(r"^[ \t]+(?P<vanilla>vanilla linux[ \t]+)?(?P<v>\d++\.\d++(?:\.\d++)?+)[-.\w]*+[ \t]+\(", re.M)


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def changelog_kernels(path: str) -> tuple[str, str, str, str]:
    """(first, last) of the kernels the ChangeLog's newest entry lists as built, then (first, last) of
    the vanilla ones; "" when it lists none."""
    text = _text(path, 64 * 1024)
    starts = [m.start() for m in _ENTRY.finditer(text)]
    entry = text[starts[0]:starts[1]] if len(starts) > 1 else text[starts[0]:] if starts else ""
    every = sorted({m.group("v") for m in _KERNEL.finditer(entry)}, key=_key)
    vanilla = sorted({m.group("v") for m in _KERNEL.finditer(entry) if m.group("vanilla")}, key=_key)
    return (every[0] if every else "", every[-1] if every else "",
            vanilla[0] if vanilla else "", vanilla[-1] if vanilla else "")


def read_tree(path: str, tree: TreeKind, source: ModuleSource) -> None:
    """Name, version, modules, the kernels its ChangeLog lists, its spec, and what its modules need."""
    from kmodtui.core import scriptnames

    name = _ac_init_tarname(os.path.join(path, tree.name_file))
    if name and not source.name:
        source.name = scriptnames.check(scriptnames.PACKAGE, name, os.path.join(path, tree.name_file))
        source.name_file = os.path.join(path, tree.name_file)
    source.version = source.version or _first(os.path.join(path, tree.version_file), tree.version_pattern)
    source.tree = tree.name
    modules = modules_of(path, tree)
    if not source.modules:
        source.modules = [m for m, _ in modules]
    for use in tree.providers:
        needing = [m for m, conds in modules if use.condition in conds]
        if needing:
            source.needs[use.name] = needing
            source.notes.append(f"{use.name}: {', '.join(needing)} built only when configure finds {use.name}'s built "
                                f"tree ({use.condition}); kmodtui passes it {' '.join(use.configure)}")
    by_condition: dict[str, list[str]] = {}
    for module, conds in modules:
        for cond in conds:
            by_condition.setdefault(cond, []).append(module)
    others = [f"{cond}: {', '.join(names)}" for cond, names in by_condition.items()
              if cond not in {u.condition for u in tree.providers}]
    if others:
        source.notes.append("configure decides which modules are built; built only when: " + "; ".join(others))
    first, last, vfirst, vlast = changelog_kernels(os.path.join(path, tree.changelog))
    if first:
        source.notes.append(f"{tree.changelog}: its newest entry lists kernels known to build from {first} to {last}"
                            + (f" (vanilla Linux {vfirst} to {vlast})" if vfirst else "")
                            + "; a list, not a limit: kmodtui does not refuse other kernels for it")
    if os.path.isfile(os.path.join(path, tree.spec)):
        from kmodtui.core.packages.specfile import MODE_REDHAT, read_spec

        spec = read_spec(os.path.join(path, tree.spec))
        source.specs[tree.spec] = spec.mode
        source.notes += [f"{tree.spec}: {n}" for n in spec.notes]
        if spec.mode == MODE_REDHAT:
            from kmodtui.core.build.tools import redhat_macros_missing

            if redhat_macros_missing():
                source.notes.append(f"{tree.spec} uses %kernel_module_package (RHEL's and SUSE's kernel rpm macros), "
                                    "which this host's rpm does not define: it cannot run here; kmodtui's rpm modes "
                                    "package the modules its build made with kmodtui's own spec")
