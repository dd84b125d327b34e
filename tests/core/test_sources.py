"""`kmodtui source` on every kind of module source: folders, OpenZFS-style autotools trees with
generic and redhat spec templates, SRPMs made by rpmbuild, tarballs made by tar. Read, never run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodtui.core.build.sources import detect_source
from tests.pkgtools import write_kmod_spec
from tests.realtools import EXAMPLES, BuiltModules, require_tool, run_ok

GENERIC_SPEC = """%define module zfs
%if !%{defined kernels} && !%{defined build_src_rpm}
%define kernels %(kmodtool ...)
%endif
Name: %{module}-kmod
Version: 2.1.11
Release: 1
%{expand:%(kmodtool --target %{_target_cpu} --repo %{repo} --kmodname %{name} %{?kernels:--for-kernels "%{?kernels}"})}
%prep
"""
REDHAT_SPEC = """Name: zfs-kmod
Version: 2.1.11
Release: 1
%kernel_module_package -n zfs
%prep
"""


OPENZFS_NINE = {"spl", "zavl", "icp", "zlua", "znvpair", "zunicode", "zcommon", "zfs", "zzstd"}


def kmodtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def build_succeeds(tree: Path, release: str, mode: str, state: Path) -> dict:
    """`kmodtui build --json` of `tree` for `release` in `mode`: its exit event, asserted succeeded."""
    result = subprocess.run([sys.executable, "-m", "kmodtui", "build", "-k", release, "-s", str(tree), "--mode", mode,
                             "--json"], capture_output=True, text=True, timeout=1800,
                            env={**os.environ, "KMODTUI_STATE_DIR": str(state)})
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    [done] = [e for e in events if e["event"] == "exit"]
    assert done["state"] == "succeeded", result.stdout[-3000:]
    return done


def test_openzfs_layout_shows_both_spec_modes(tmp_path: Path) -> None:
    tree = tmp_path / "zfs-2.1.11"
    (tree / "rpm" / "generic").mkdir(parents=True)
    (tree / "rpm" / "redhat").mkdir(parents=True)
    (tree / "configure.ac").write_text("AC_INIT([zfs], [2.1.11])\n")
    (tree / "rpm" / "generic" / "zfs-kmod.spec.in").write_text(GENERIC_SPEC)
    (tree / "rpm" / "redhat" / "zfs-kmod.spec.in").write_text(REDHAT_SPEC)
    info = json.loads(kmodtui("source", str(tree), "--json").stdout)
    assert "autotools" in info["kinds"] and "spec" in info["kinds"]
    assert info["specs"] == {"rpm/generic/zfs-kmod.spec.in": "generic", "rpm/redhat/zfs-kmod.spec.in": "redhat"}
    notes = " ".join(info["build_time_only"])
    assert "--with-spec=generic|redhat" in notes and "no ksym() Provides" in notes


def test_srpm_made_by_rpmbuild_is_read_in_memory(built: BuiltModules, installed_kernel, tmp_path: Path) -> None:
    spec = write_kmod_spec(tmp_path / "kmod-provider.spec", "kmod-provider", [built.provider_ko], installed_kernel.release,
                           generator="internal")
    run_ok([require_tool("rpmbuild"), "-bs", "--define", f"_topdir {tmp_path / 'top'}", str(spec)])
    srpm = next((tmp_path / "top" / "SRPMS").glob("*.src.rpm"))
    source = detect_source(str(srpm))
    assert source.kinds == ["srpm"] and source.name == "kmod-provider"
    assert source.specs == {"kmod-provider.spec": "plain"}
    assert any("no ksym() Provides" in n for n in source.notes)


def test_tarball_is_unpacked_safely_and_detected(tmp_path: Path) -> None:
    tarball = tmp_path / "provider-1.0.tar.gz"
    run_ok(["tar", "-C", str(EXAMPLES), "-czf", str(tarball), "provider"])
    source = detect_source(str(tarball), cache_dir=str(tmp_path / "cache"))
    assert source.kinds[:2] == ["dkms", "kbuild"] and source.name == "kmodtui-provider"
    assert source.path.startswith(str(tmp_path / "cache"))
    hostile = tmp_path / "evil.tar"
    (tmp_path / "payload").write_text("x")
    run_ok(["tar", "-C", str(tmp_path), "-cf", str(hostile), "--transform", "s,^payload,../../escaped,", "payload"])
    result = kmodtui("source", str(hostile))
    assert result.returncode == 2 and ".." in result.stderr
    assert not (tmp_path.parent / "escaped").exists()


def test_a_spec_is_read_without_running_its_shell_macros(tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    spec = tmp_path / "x.spec"
    spec.write_text(f"Name: x\n%define v %(touch {marker})\n%kernel_module_package\n%prep\n")
    info = json.loads(kmodtui("source", str(spec), "--json").stdout)
    assert info["specs"] == {str(spec): "redhat"} and not marker.exists()


@pytest.mark.network
def test_openzfs_as_debian_ships_it_and_as_a_release_tree(tmp_path: Path) -> None:
    """The real zfs-dkms of Debian 12 (contrib): given as a .deb it is unpacked safely and read; its
    tree without the generated dkms.conf (what a release tarball holds) is read from META and
    module/Kbuild.in, before any configure. Nothing in either is run."""
    from tests.realtools import apt_download_contrib

    deb = apt_download_contrib("zfs-dkms")
    env = {"KMODTUI_CACHE_DIR": str(tmp_path / "cache")}
    nine = OPENZFS_NINE
    result = kmodtui("source", str(deb), "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert (info["name"], set(info["modules"])) == ("zfs", nine) and info["version"].startswith("2.1.")
    assert info["modes"] == ["kbuild", "deb", "dkms"]  # kbuild and deb: dkms.conf's PRE_BUILD (configure) first
    assert info["linux_range"]["minimum"] and info["linux_range"]["maximum"]
    # dkms.conf's multi-line PRE_BUILD="configure ... $( ... )" is one note, not forty
    pre_build = [n for n in info["build_time_only"] if "PRE_BUILD" in n]
    assert len(pre_build) == 1 and pre_build[0].startswith("dkms.conf lines ")
    # the same tree as a release tarball has it: no dkms.conf (scripts/dkms.mkconf makes it)
    tree = Path(info["path"])
    release = tmp_path / "zfs-release" / tree.name
    shutil.copytree(tree, release, symlinks=True)
    (release / "dkms.conf").unlink()
    tarball = tmp_path / f"{tree.name}.tar.gz"
    subprocess.run(["tar", "-C", str(release.parent), "-czf", str(tarball), tree.name], check=True)
    result = kmodtui("source", str(tarball), "--json", env=env)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["name"] == "zfs" and info["version"].startswith("2.1.") and info["kinds"] == ["autotools"]
    assert info["modules"][0] == "spl" and set(info["modules"]) == nine  # Kbuild.in's order: spl first
    assert info["modes"] == ["kbuild", "deb"]  # zfs-dkms ships no rpm/ specs and no scripts/dkms.mkconf


@pytest.mark.network
def test_the_openzfs_release_tree_lists_its_nine_modules_and_every_mode(installed_kernel, tmp_path: Path) -> None:
    """The upstream release tarball Debian's zfs-linux is made from (`apt-get source`), read before
    configure: name and version from META, the nine modules from module/Kbuild.in, the kernel range,
    and every mode it builds in: kbuild, deb, dkms (its scripts/dkms.mkconf writes the dkms.conf),
    rpm-generic and rpm-redhat (its own rpm/*/zfs-kmod.spec.in through `make rpm-kmod`). Modes the
    host cannot do stop before anything runs, in one line."""
    from tests.realtools import apt_source_tarball

    tarball = apt_source_tarball("zfs-linux")
    nine = OPENZFS_NINE
    env = {"KMODTUI_CACHE_DIR": str(tmp_path / "cache"), "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    for given in (tarball, None):  # the tarball as downloaded, and the tree as a user unpacks it
        if given is None:
            run_ok(["tar", "-C", str(tmp_path), "-xzf", str(tarball)])
            [given] = tmp_path.glob("zfs-2.*")
        result = kmodtui("source", str(given), "--json", env=env)
        assert result.returncode == 0, result.stderr
        info = json.loads(result.stdout)
        assert (info["name"], info["version"], set(info["modules"])) == ("zfs", "2.1.11", nine)
        assert info["modes"] == ["kbuild", "deb", "dkms", "rpm-generic", "rpm-redhat"]
        assert (info["linux_range"]["minimum"], info["linux_range"]["maximum"]) == ("3.10", "6.2")
        assert info["specs"]["rpm/generic/zfs-kmod.spec.in"] == "generic"
    tree = given
    before = sorted(p.name for p in tree.iterdir())
    redhat = kmodtui("build", "-k", installed_kernel.release, "-s", str(tree), "--mode", "rpm-redhat", env=env)
    said: list[str] = []
    if "%kernel_module_package" not in subprocess.run(["rpm", "--eval", "%{?kernel_module_package:yes}"],
                                                      capture_output=True, text=True).stdout:
        said = [line for line in (redhat.stdout + redhat.stderr).splitlines() if "%kernel_module_package" in line]
        assert redhat.returncode != 0 and len(said) == 1 and said[0].startswith(f"kmodtui: {tree}: "), redhat
    # the redhat-spec remedy is a rebuild in rpm-redhat mode (no file edited), found from the generic spec
    shown = kmodtui("remedy", "show", "autotools-redhat-spec", "--target",
                    str(tree / "rpm" / "generic" / "zfs-kmod.spec.in"), "--json", env=env)
    plan = json.loads(shown.stdout)
    assert plan["files"] == [] and f"cd {tree}" in plan["commands"]
    assert plan["rebuild"] == ("" if said else "rpm-redhat")
    if said:
        assert "Not on this host" in plan["explanation"]
    (tree / "scripts" / "dkms.mkconf").unlink()  # half a project: no dkms.conf and nothing that makes one
    dkms = kmodtui("build", "-k", installed_kernel.release, "-s", str(tree), "--mode", "dkms", env=env)
    said = [line for line in (dkms.stdout + dkms.stderr).splitlines() if "scripts/dkms.mkconf" in line]
    assert dkms.returncode != 0 and len(said) == 1 and said[0].startswith(f"kmodtui: {tree}: "), dkms
    assert sorted(p.name for p in tree.iterdir()) == before  # nothing ran in the user's tree


@pytest.mark.network
def test_dkms_mode_on_the_openzfs_release_tree_writes_the_dkms_conf_zfs_dkms_ships(installed_kernel, tmp_path: Path) -> None:
    """dkms mode on a release tree: the tree's own scripts/dkms.mkconf writes the dkms.conf in the
    build's copy under the private dkms source tree (never in the user's tree), and that dkms.conf
    builds what Debian's zfs-dkms builds: same name, version, modules and where they go."""
    from kmodtui.core.build.plan import planned
    from kmodtui.core.build.request import make_request
    from tests.realtools import apt_download_contrib, openzfs_release_tree

    tree = openzfs_release_tree(tmp_path)
    plan = planned(make_request(str(tree), installed_kernel.release, "dkms"), str(tmp_path / "work"))
    # dkms signs with its MOK as it would, but outside the sandbox its build runs in, where the key is
    assert [s.phase for s in plan.steps] == ["dkms.mkconf", "dkms add", "dkms build", "sign"]
    assert [bool(s.outside) for s in plan.steps] == [False, False, False, True]
    mkconf = plan.steps[0]
    assert mkconf.cwd.startswith(str(tmp_path / "work")) and not (tree / "dkms.conf").exists()
    run_ok(list(mkconf.argv), cwd=mkconf.cwd)
    made = detect_source(mkconf.cwd)
    run_ok([require_tool("dpkg-deb"), "-x", str(apt_download_contrib("zfs-dkms")), str(tmp_path / "deb")])
    [shipped_tree] = (tmp_path / "deb" / "usr" / "src").glob("zfs-*")
    shipped = detect_source(str(shipped_tree))
    assert made.dkms is not None and shipped.dkms is not None
    assert (made.name, made.version, sorted(made.modules)) == (shipped.name, shipped.version, sorted(shipped.modules))
    for array in ("BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_LOCATION"):
        assert made.dkms.array(array) == shipped.dkms.array(array) and made.dkms.array(array), array
    assert made.dkms.values["AUTOINSTALL"] == shipped.dkms.values["AUTOINSTALL"] == "yes"
    # both configure for the kernel in PRE_BUILD (Debian's copy adds --host for CROSS_COMPILE and a
    # PREEMPT_RT exclusion, and names /etc/dkms/zfs.conf: its patches to dkms.mkconf)
    for conf in (made, shipped):
        assert any("PRE_BUILD" in note and "configure" in note for note in conf.dkms.build_time_only)
    assert not (tree / "dkms.conf").exists()


@pytest.mark.network
def test_rpm_modes_on_the_openzfs_release_tree_give_make_rpm_kmod_what_its_kernel_configure_would(
        installed_kernel, tmp_path: Path) -> None:
    """rpm-generic on a release tree configures it with --with-config=srpm (none of the ~300 compiled
    kernel checks, which rpmbuild's %build configure runs anyway) and gives `make rpm-kmod` the defines
    the tree's config/zfs-build.m4 writes for a kernel configure: the same names, for this kernel."""
    import re

    from kmodtui.core.build.plan import BuildDirs, ask_host, plan_build
    from kmodtui.core.build.request import make_request
    from tests.realtools import openzfs_release_tree

    tree = openzfs_release_tree(tmp_path)
    request = make_request(str(tree), installed_kernel.release, "rpm-generic")
    source = detect_source(str(tree))
    plan = plan_build(request, source, BuildDirs(str(tmp_path / "work")), ask_host(request, source))
    configure, make = plan.steps[0], plan.steps[1]
    assert configure.argv == ("sh", "./configure", "--with-config=srpm", "--with-spec=generic")
    assert make.argv[:2] == ("make", "rpm-kmod")
    given = dict(word.split("=", 1) for word in make.argv[2:])
    assert (given["LINUX_VERSION"], given["LINUX_OBJ"]) == (installed_kernel.release, installed_kernel.build_dir)
    assert os.path.isfile(os.path.join(given["LINUX"], "Makefile"))  # the kernel's source half
    m4 = (tree / "config" / "zfs-build.m4").read_text()
    written = re.findall(r"""RPM_DEFINE_KMOD=(?:\$\{RPM_DEFINE_KMOD\})?'\s*(--define "[^"]*")'""", m4)
    assert len(written) == 7 and " ".join(written) == given["RPM_DEFINE_KMOD"]


def test_a_deb_that_is_not_a_dkms_package_is_one_line(tmp_path: Path) -> None:
    import tarfile

    from tests.core.test_kernels import hostile_deb

    info = tarfile.TarInfo("./usr/share/doc/x/README")
    deb = hostile_deb(tmp_path / "plain.deb", [(info, b"hello")])
    result = kmodtui("source", str(deb), env={"KMODTUI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2 and "is not a -dkms package" in result.stderr
    assert result.stderr.count("\n") == 1


@dataclass(frozen=True)
class OpenzfsBuild:
    tree: Path
    state: Path
    done: dict  # the build's exit event: its artifacts are the .ko files kbuild mode gives, then the .deb


@pytest.fixture(scope="module")
def openzfs_deb_build(installed_kernel, tmp_path_factory) -> OpenzfsBuild:
    """One OpenZFS build serves both tests that need one (an OpenZFS build is ~9 CPU minutes): Debian
    12's OpenZFS release tree, `kmodtui build --mode deb`, whose build steps are kbuild mode's."""
    from tests.realtools import openzfs_release_tree

    folder = tmp_path_factory.mktemp("openzfs-deb")
    tree = openzfs_release_tree(folder)
    done = build_succeeds(tree, installed_kernel.release, "deb", folder / "state")
    return OpenzfsBuild(tree, folder / "state", done)


def planned_steps(tree: Path, kernel, mode: str, work: Path) -> list[tuple[str, tuple[str, ...]]]:
    """The phases and command lines `mode` plans for `tree` (a plan is a value: nothing runs)."""
    from kmodtui.core.build.inputs import BuildRequest, HostFacts
    from kmodtui.core.build.plan import BuildDirs, plan_build

    source = detect_source(str(tree))
    request = BuildRequest(kernel=kernel, source=str(tree), mode=mode, deb_depends="")
    plan = plan_build(request, source, BuildDirs(str(work)), HostFacts(provider_packages=(), unpackaged_providers=()))
    return [(step.phase, step.argv) for step in plan.steps]


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(1800)  # one OpenZFS build (shared): minutes, more on a busy machine
def test_openzfs_builds_through_kmodtui_and_its_module_set_resolves_as_depmod_says(
        openzfs_deb_build: OpenzfsBuild, installed_kernel, tmp_path: Path) -> None:
    """Debian 12's real OpenZFS release tree, built through kmodtui (./configure for the kernel, then
    kbuild in module/): kbuild mode plans exactly the build steps the shared deb build ran, the nine
    modules come out for this kernel, and the set (spl -> znvpair -> zcommon -> ... -> zfs) resolves
    against the kernel with no problem, as depmod says."""
    from tests.core.test_resolve import RELEASE, scratch_tree
    from tests.realtools import depmod_problems

    tree = openzfs_deb_build.tree
    kbuild = planned_steps(tree, installed_kernel, "kbuild", tmp_path / "plan")
    deb = planned_steps(tree, installed_kernel, "deb", tmp_path / "plan")
    assert kbuild and deb[:len(kbuild)] == kbuild and [p for p, _ in kbuild] == ["configure", "build"], kbuild
    log = Path(openzfs_deb_build.done["log"]).read_text(errors="replace")
    assert all(f"### {phase}: {' '.join(argv)}\n" in log for phase, argv in kbuild), log[:3000]
    modules = [a for a in openzfs_deb_build.done["artifacts"] if a.endswith(".ko")]
    names = {Path(m).stem for m in modules}
    assert names == OPENZFS_NINE
    info = json.loads(subprocess.run([sys.executable, "-m", "kmodtui", "inspect", *modules, "--json"],
                                     capture_output=True, text=True).stdout)
    assert {m["vermagic"].split()[0] for m in info["modules"]} == {installed_kernel.release}
    scratch = scratch_tree(tmp_path / "root", *map(Path, modules))
    assert depmod_problems(tmp_path / "root", RELEASE, installed_kernel.symvers_path) == set()
    resolved = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", str(scratch), "--kernel",
                               installed_kernel.symvers_path, "--json", "--problems-only"],
                              capture_output=True, text=True)
    assert resolved.returncode == 0 and json.loads(resolved.stdout)["findings"] == [], resolved.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(1800)  # one OpenZFS build (shared): ~6 min on an idle 2-core machine, past 10 min on a busy one
def test_the_openzfs_release_tree_in_deb_mode_packages_its_nine_modules(
        openzfs_deb_build: OpenzfsBuild, installed_kernel) -> None:
    """deb mode on the release tree: ./configure and the module build in the build's copy, then
    kmodtui's binary-module .deb of every .ko the build made; dpkg-deb lists the nine, and the
    package checks clean against the kernel as a package set."""
    env = {"KMODTUI_STATE_DIR": str(openzfs_deb_build.state)}
    [deb] = [a for a in openzfs_deb_build.done["artifacts"] if a.endswith(".deb")]
    listing = run_ok([require_tool("dpkg-deb"), "-c", deb]).stdout
    packaged = {Path(line.split()[-1]).name.split(".ko")[0] for line in listing.splitlines() if ".ko" in line}
    assert packaged == OPENZFS_NINE
    checked = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", deb, "--kernel", installed_kernel.symvers_path,
                              "--json"], capture_output=True, text=True, env={**os.environ, **env})
    findings = json.loads(checked.stdout)["findings"]
    # every symbol resolves; the one thing this build host lacks is the kernel's own image package,
    # which the .deb rightly depends on (apt-get, asked here, refuses it for that alone)
    problems = [f for f in findings if f["status"] != "ok"]
    assert [(f["status"], f["symbol"]) for f in problems] in (
        [], [("unsatisfied_requires", f"linux-image-{installed_kernel.release} | "
                                      f"linux-image-{installed_kernel.release}-unsigned")]), problems[:5]
