"""Every log rule fires on output the real tool printed in this test run. Where the machine cannot
produce it (yum, the running kernel's module loader), the text is recorded and its source named."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodtui.core.build.logscan import RULES, scan_text
from kmodtui.core.model import Kernel
from tests.pkgtools import DpkgRoot, RpmRoot, build_deb, build_kmod_rpm
from tests.realtools import (
    BuiltModules,
    copy_source,
    kbuild,
    missing,
    require_tool,
    run,
)

TESTED_ON_REAL_OUTPUT: set[str] = set()


def fired(output: str) -> set[str]:
    return {f.rule for f in scan_text(output)}


REAL_OUTPUTS: list[tuple[str, str]] = []  # (rule, output): what `diagnose` must also name
COLLECTED: set[str] = set()  # the tests below that ran the real tools and filled the two sets above


def collects(test):
    """A test that runs a real tool and records its output for the two tests at the end of this file;
    they run it themselves when it did not run first (any order, any selection: see real_outputs)."""
    def wrapper(*args, **kwargs):
        test(*args, **kwargs)
        COLLECTED.add(test.__name__)

    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = test.__name__, test.__doc__, test  # type: ignore[attr-defined]
    import inspect

    wrapper.__signature__ = inspect.signature(test)  # type: ignore[attr-defined]
    return wrapper


def assert_fires(rule: str, output: str) -> None:
    assert rule in fired(output), f"{rule} did not fire on:\n{output[-3000:]}"
    TESTED_ON_REAL_OUTPUT.add(rule)
    REAL_OUTPUTS.append((rule, output))


def combined(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def kernel(installed_kernel: Kernel) -> Kernel:
    require_tool("make")
    return installed_kernel


@collects
def test_modpost_rules(kernel: Kernel, built: BuiltModules, tmp_path: Path) -> None:
    undefined = kbuild(kernel.build_dir, copy_source("consumer", tmp_path / "a"))
    assert_fires("modpost-undefined", combined(undefined))
    assert_fires("btf-skipped", combined(kbuild(kernel.build_dir, copy_source("provider", tmp_path / "p"))))
    no_ns = kbuild(kernel.build_dir, copy_source("consumer", tmp_path / "b", {"MODULE_IMPORT_NS(KMODTUI_NS);": ""}),
                   f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}")
    assert_fires("modpost-namespace", combined(no_ns))
    proprietary = kbuild(kernel.build_dir, copy_source("consumer", tmp_path / "c", {'MODULE_LICENSE("GPL")': 'MODULE_LICENSE("Proprietary")'}),
                         f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}")
    assert_fires("modpost-gpl-only", combined(proprietary))


@collects
def test_compiler_and_make_rules(kernel: Kernel, tmp_path: Path) -> None:
    no_tree = run(["make", "-C", "/nonexistent/kmodtui-kernel-build", f"M={tmp_path}", "modules"])
    assert_fires("kbuild-no-build-dir", combined(no_tree))
    no_cc = kbuild(kernel.build_dir, copy_source("provider", tmp_path / "a"), "CC=kmodtui-gcc-99")
    assert_fires("compiler-missing", combined(no_cc))
    header = kbuild(kernel.build_dir, copy_source("provider", tmp_path / "b", {"#include <linux/kernel.h>": "#include <linux/kmodtui_gone.h>"}))
    assert_fires("c-missing-header", combined(header))
    implicit = kbuild(kernel.build_dir, copy_source("provider", tmp_path / "c", {"return x + 1;": "return kmodtui_gone(x);"}))
    assert_fires("c-implicit-declaration", combined(implicit))
    syntax = kbuild(kernel.build_dir, copy_source("provider", tmp_path / "d", {"return x * 2;": "return x * ;"}))
    assert_fires("c-error", combined(syntax))
    source = copy_source("provider", tmp_path / "e")
    (source / "Kbuild").write_text("obj-m := provider.o\nprovider-y := provider_main.o\n")
    assert_fires("make-no-rule", combined(kbuild(kernel.build_dir, source)))
    # Debian's headers switch the check off; with it on, plain `gcc` differs from the kernel's `gcc-12` text
    differs = kbuild(kernel.build_dir, copy_source("provider", tmp_path / "f"), "CC=gcc", "DEBIAN_KERNEL_NO_CC_VERSION_CHECK=")
    assert_fires("kbuild-compiler-differs", combined(differs))


def dkms(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    trees = [work / name for name in ("tree", "source", "install")]
    for tree in trees:
        tree.mkdir(parents=True, exist_ok=True)
    return run([require_tool("dkms"), "--dkmstree", str(trees[0]), "--sourcetree", str(trees[1]),
                "--installtree", str(trees[2]), *args], env={"sign_file": "/nonexistent/kmodtui-no-signing"})


def dkms_source(work: Path, edit: dict[str, str] | None = None, conf_extra: str = "") -> None:
    target = work / "source" / "kmodtui-provider-1.0"
    target.parent.mkdir(parents=True, exist_ok=True)
    copy_source("provider", target.parent, edit)
    (target.parent / "provider").rename(target)
    if conf_extra:
        with open(target / "dkms.conf", "a") as f:
            f.write(conf_extra)
    assert dkms(work, "add", "-m", "kmodtui-provider", "-v", "1.0").returncode == 0


@collects
def test_dkms_rules_with_real_dkms_exit_codes(kernel: Kernel, tmp_path: Path) -> None:
    dkms_source(tmp_path / "a")
    no_headers = dkms(tmp_path / "a", "build", "-m", "kmodtui-provider", "-v", "1.0", "-k", "9.9.9-kmodtui-none")
    assert no_headers.returncode != 0  # 1 from dkms 3.0.10 (Debian 12); later dkms exit 21
    assert_fires("dkms-headers-missing", combined(no_headers))
    dkms_source(tmp_path / "b", {"return x + 1;": "return x + ;"})
    broken = dkms(tmp_path / "b", "build", "-m", "kmodtui-provider", "-v", "1.0", "-k", kernel.release,
                  "--kernelsourcedir", kernel.build_dir)
    assert broken.returncode == 10
    assert_fires("dkms-build-failed", combined(broken))
    assert_fires("dkms-make-log", combined(broken))
    dkms_source(tmp_path / "c", conf_extra='BUILD_EXCLUSIVE_KERNEL="^2\\.4\\."\n')
    excluded = dkms(tmp_path / "c", "build", "-m", "kmodtui-provider", "-v", "1.0", "-k", kernel.release,
                    "--kernelsourcedir", kernel.build_dir)
    assert excluded.returncode == 77
    assert_fires("dkms-build-exclusive", combined(excluded))


@collects
def test_rpm_rules(kernel: Kernel, built: BuiltModules, tmp_path: Path) -> None:
    consumer = build_kmod_rpm(tmp_path / "c", "kmod-consumer", [built.consumer_ko], kernel.release, generator="kmodtui",
                              kernel_symvers=kernel.symvers_path)
    root = RpmRoot(tmp_path / "root")
    refused = run([root.rpm, "--root", str(root.root), "--dbpath", "/var/lib/rpm", "-i", "--test", "--ignorearch", str(consumer)])
    assert_fires("rpm-failed-dependency", combined(refused))
    other = build_kmod_rpm(tmp_path / "o", "kmod-other", [built.provider_ko], kernel.release, generator="internal",
                           extra_spec="Requires: libkmodtui-not-there\n")
    refused = run([root.rpm, "--root", str(root.root), "--dbpath", "/var/lib/rpm", "-i", "--test", "--ignorearch", str(other)])
    assert_fires("rpm-failed-other", combined(refused))
    spec = tmp_path / "broken.spec"
    spec.write_text("Name: broken\nVersion: 1\nRelease: 1\nSummary: x\nLicense: GPL\n%description\nx\n%build\nexit 3\n%files\n")
    failed = run([require_tool("rpmbuild"), "-bb", "--define", f"_topdir {tmp_path / 'top'}", str(spec)])
    assert_fires("rpmbuild-bad-exit", combined(failed))


@collects
def test_dpkg_and_apt_rules(built: BuiltModules, tmp_path: Path) -> None:
    deb = build_deb(tmp_path, "zfs-modules-6.1.0-99-custom", "1", {"/lib/modules/6.1.0-99-custom/updates/p.ko": built.provider_ko},
                    depends="linux-image-6.1.0-99-custom")
    refused = DpkgRoot(tmp_path / "root").install(deb)
    assert_fires("dpkg-dependency-problems", combined(refused))
    assert_fires("dpkg-depends-on", combined(refused))
    if os.geteuid() != 0:
        missing("apt-get -s install of a local .deb needs root")
    apt = run([require_tool("apt-get"), "install", "-s", "--no-install-recommends", str(deb)])
    assert_fires("apt-not-installable", combined(apt))


@collects
def test_depmod_rules(kernel: Kernel, built: BuiltModules, tmp_path: Path) -> None:
    moddir = tmp_path / "lib" / "modules" / "6.1.0-99-kmodtui" / "extra"
    moddir.mkdir(parents=True)
    shutil.copy(built.consumer_ko, moddir)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        (moddir.parent / name).write_text("")
    (tmp_path / "conf").mkdir()
    symvers = tmp_path / "Module.symvers"
    symvers.write_text(Path(kernel.symvers_path).read_text().replace("0x92997ed8\t_printk", "0x00000001\t_printk"))
    out = run([require_tool("depmod"), "-b", str(tmp_path), "-C", str(tmp_path / "conf"), "-e", "-E", str(symvers),
               "-n", "6.1.0-99-kmodtui"])
    assert_fires("depmod-unknown-symbol", combined(out))
    assert_fires("depmod-disagrees", combined(out))


@collects
def test_runner_level_failures_are_findings(kernel: Kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kmodtui's own lines, from real runs: a mode whose program is not installed (dkms off PATH),
    and a source another kmodtui is building (its lock held by a real detached build)."""
    import json
    import sys
    import time

    from kmodtui.core.build import record as buildrecord

    src = copy_source("provider", tmp_path / "src")
    env = {**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"}
    kmodtui = [sys.executable, "-m", "kmodtui"]
    no_dkms = subprocess.run([*kmodtui, "build", "--json", "--mode", "dkms", "--source", str(src), "--kernel",
                              kernel.build_dir], env=env, capture_output=True, text=True, timeout=120)
    assert no_dkms.returncode != 0
    lines = [json.loads(line).get("text", "") for line in no_dkms.stdout.splitlines()]
    assert_fires("kmodtui-tool-missing", "\n".join(lines))
    assert any("install it: sudo apt-get install dkms" in line or "dnf install dkms" in line for line in lines)

    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "slow.c").write_text('#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
    (slow / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 20)\n")  # kbuild reads it: 20 s
    env["PATH"] = os.environ["PATH"]
    monkeypatch.setenv("KMODTUI_STATE_DIR", env["KMODTUI_STATE_DIR"])
    subprocess.run([*kmodtui, "build", "--detach", "--source", str(slow), "--kernel", kernel.build_dir], env=env,
                   check=True, capture_output=True, timeout=60)
    try:
        deadline = time.monotonic() + 30
        while True:  # until the detached build runs make (it holds the source's lock by then)
            records = [r for r in buildrecord.list_builds() if r.get("source", "").endswith("slow")]
            log = records[0].get("log", "") if records else ""
            if records and os.path.exists(log) and "make" in Path(log).read_text():
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        busy = subprocess.run([*kmodtui, "build", "--json", "--source", str(slow), "--kernel", kernel.build_dir],
                              env=env, capture_output=True, text=True, timeout=60)
        text = "\n".join(json.loads(line).get("text", "") for line in busy.stdout.splitlines())
        assert_fires("kmodtui-busy", text)
    finally:
        for status in buildrecord.list_builds():
            buildrecord.stop(status)



# Recorded text, not produced here:
# - yum: the error block of seed 000 (Lustre 2.12.9 kmod RPMs on CentOS 7.9, rpm 4.11.3).
# - the module loader: its printk formats in Linux 6.1 kernel/module/version.c and main.c
#   ("%s: version magic '%s' should be '%s'", "%s: Unknown symbol %s (err %d)"); loading modules
#   into the machine running the tests is not something a test suite should do.
# - insmod's message for EKEYREJECTED is the C library's strerror text, taken from os.strerror here.
RECORDED = {
    "yum-requires-ksym": "Error: Package: kmod-lustre-osd-zfs-2.12.9-1.el7.x86_64 (/kmod-lustre-osd-zfs-2.12.9-1.el7.x86_64)\n"
                         "           Requires: ksym(dmu_tx_commit) = 0xf6382d3e\n",
    "loader-vermagic": "consumer: version magic '6.1.0-47-amd64 SMP preempt mod_unload modversions ' should be "
                       "'6.1.0-56-amd64 SMP preempt mod_unload modversions '\n",
    "loader-unknown-symbol": "consumer: Unknown symbol provider_fn (err -2)\n",
    "loader-key-rejected": f"insmod: ERROR: could not insert module consumer.ko: {os.strerror(errno.EKEYREJECTED)}\n",
}


@pytest.mark.parametrize("rule", sorted(RECORDED))
def test_rules_on_recorded_text(rule: str) -> None:
    assert rule in fired(RECORDED[rule])


# The cause `kmodtui diagnose` names for the real output each rule was tested on (None: that output
# holds no single cause to name: a notice, or a line the test cut out of a bigger story).
DIAGNOSED_AS = {
    "modpost-undefined": "modpost_undefined", "modpost-namespace": "namespace_not_imported",
    "modpost-gpl-only": "gpl_only_symbol", "kbuild-no-build-dir": "headers_missing",
    "dkms-headers-missing": "headers_missing", "dkms-build-exclusive": "dkms_build_exclusive",
    "compiler-missing": "compiler_mismatch", "c-missing-header": "kernel_api_change",
    "c-implicit-declaration": "kernel_api_change", "c-error": "kernel_api_change",
    # the scratch rpm database holds no kernel package, so rpm lists the kernel(...) Requires unmet
    # first: that is the first real error (no kernel ABI to load into), before the ksym() ones
    "rpm-failed-dependency": "kabi_mismatch", "yum-requires-ksym": "ksym_not_provided",
    "dpkg-dependency-problems": "package_depends_unmet", "dpkg-depends-on": "package_depends_unmet",
    # one depmod run shows both a missing provider and a changed _printk CRC; depmod prints the CRC
    # mismatch first, and it is a real error on its own: the first real error is the primary
    "apt-not-installable": "package_depends_unmet", "depmod-unknown-symbol": "crc_mismatch",
    "depmod-disagrees": "crc_mismatch", "loader-unknown-symbol": "unknown_symbol",
    "loader-key-rejected": "module_signature_rejected", "kmodtui-tool-missing": "tool_missing",
    "kmodtui-busy": "source_busy", "btf-skipped": None, "kbuild-compiler-differs": None,
}


@pytest.fixture
def real_outputs(kernel: Kernel, built: BuiltModules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every real tool output of the tests above: those that did not run before this one (another
    order, a selection) are run now, each in a folder of its own."""
    collectors = {"test_modpost_rules": lambda d: test_modpost_rules(kernel, built, d),
                  "test_compiler_and_make_rules": lambda d: test_compiler_and_make_rules(kernel, d),
                  "test_dkms_rules_with_real_dkms_exit_codes": lambda d: test_dkms_rules_with_real_dkms_exit_codes(kernel, d),
                  "test_rpm_rules": lambda d: test_rpm_rules(kernel, built, d),
                  "test_dpkg_and_apt_rules": lambda d: test_dpkg_and_apt_rules(built, d),
                  "test_depmod_rules": lambda d: test_depmod_rules(kernel, built, d),
                  "test_runner_level_failures_are_findings":
                      lambda d: test_runner_level_failures_are_findings(kernel, d, monkeypatch)}
    for name, run_it in collectors.items():
        if name not in COLLECTED:
            folder = tmp_path / name
            folder.mkdir()
            run_it(folder)
    return REAL_OUTPUTS


def test_diagnose_names_the_cause_of_every_real_output_above(real_outputs: list[tuple[str, str]]) -> None:
    """The same real tool output as the rules' tests, through `diagnose`'s engine."""
    from kmodtui.core.diagnose import diagnose_text

    checked = 0
    for rule, output in real_outputs:
        expected = DIAGNOSED_AS.get(rule, "unlisted")
        if expected == "unlisted":
            continue
        diagnosis = diagnose_text(output)
        got = diagnosis.primary.cause.value if diagnosis.primary else None
        if rule in ("btf-skipped", "kbuild-compiler-differs"):
            assert got is None or diagnosis.primary.tier != "harmless", (rule, got)
            continue
        assert got == expected, f"{rule}: diagnose said {got}, expected {expected}, on:\n{output[-2000:]}"
        checked += 1
    assert checked >= 12


def test_every_rule_is_tested(real_outputs: list[tuple[str, str]]) -> None:
    """Each rule fired on real output above or on recorded text."""
    untested = {r.id for r in RULES} - TESTED_ON_REAL_OUTPUT - set(RECORDED)
    assert not untested, untested


def test_binary_junk_and_huge_lines_never_break_the_scanner() -> None:
    junk = bytes(range(256)).decode("latin-1") * 50 + "\n" + "x" * 1_000_000
    assert scan_text(junk) == []
