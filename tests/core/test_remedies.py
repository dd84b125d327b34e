"""Each remedy from the broken state, through the CLI, to a real referee that agrees it is fixed,
and back with undo, byte for byte."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy
from kmodtui.core.remedies.edits import FileEdit, apply_edits
from tests.pkgtools import (
    KMODTUI,
    DpkgRoot,
    RpmRoot,
    build_deb,
    build_kernel_provides_rpm,
    write_kmod_spec,
)
from tests.realtools import BuiltModules, copy_source, kbuild, require_tool, run, run_ok


def kmodtui(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, input=input)


def apply(remedy: str, *options: str) -> str:
    result = kmodtui("remedy", "apply", remedy, *options, "--yes", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["applied"]


def undo_restores(undo_id: str, originals: dict[Path, bytes]) -> None:
    result = kmodtui("remedy", "undo", undo_id)
    assert result.returncode == 0, result.stderr
    for path, content in originals.items():
        assert path.read_bytes() == content, path


def rpmbuild(spec: Path, top: Path) -> Path:
    result = run([require_tool("rpmbuild"), "-bb", "--define", f"_topdir {top}", "--define", "_build_id_links none", str(spec)])
    assert result.returncode == 0, result.stderr[-3000:]
    return next((top / "RPMS").rglob("*.rpm"))


def test_spec_external_depgen_fixes_seed_000_for_real_rpm(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    release = installed_kernel.release
    provider_spec = write_kmod_spec(tmp_path / "kmod-provider.spec", "kmod-provider", [built.provider_ko], release,
                                    generator="internal")  # the "generic" spec
    consumer_spec = write_kmod_spec(tmp_path / "kmod-consumer.spec", "kmod-consumer", [built.consumer_ko], release,
                                    generator="kmodtui")
    consumer = rpmbuild(consumer_spec, tmp_path / "c")
    kernel_rpm = build_kernel_provides_rpm(tmp_path / "k", release, installed_kernel.symvers_path)
    broken = rpmbuild(provider_spec, tmp_path / "p1")
    root = RpmRoot(tmp_path / "root1")
    root.install_justdb(kernel_rpm, broken)
    code, failed = root.test_install(consumer)
    assert code != 0 and len(failed) == 3  # seed 000, reproduced

    original = provider_spec.read_bytes()
    shown = kmodtui("remedy", "show", "spec-external-depgen", "--target", str(provider_spec))
    assert "+%global _use_internal_dependency_generator 0" in shown.stdout
    undo_id = apply("spec-external-depgen", "--target", str(provider_spec), "--generator", KMODTUI)
    fixed = rpmbuild(provider_spec, tmp_path / "p2")
    root = RpmRoot(tmp_path / "root2")
    root.install_justdb(kernel_rpm, fixed)
    code, failed = root.test_install(consumer)
    assert code == 0 and not failed  # the referee agrees
    undo_restores(undo_id, {provider_spec: original})


def test_spec_without_prep_is_refused_and_left_alone(tmp_path: Path) -> None:
    spec = tmp_path / "odd.spec"
    spec.write_text("Name: odd\n%define weird %(echo hi)\n%install\n")
    before = spec.read_bytes()
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes")
    assert result.returncode == 2 and "no %prep" in result.stderr and result.stderr.count("\n") == 1
    assert spec.read_bytes() == before


def test_a_remedy_with_no_target_says_which_target_it_needs() -> None:
    """An empty target was taken as the current folder ("': is not a regular file"): the catalogue says
    which target is not known yet (the remedy screen's words), and the CLI asks for --target."""
    from kmodtui.core.remedies.catalogue import TargetNeeded

    with pytest.raises(TargetNeeded) as raised:
        get_remedy("spec-external-depgen").plan(RemedyOptions())
    assert raised.value.reason == "the provider's .spec is not known yet"
    result = kmodtui("remedy", "show", "spec-external-depgen")
    assert result.returncode == 2 and result.stderr == (
        "kmodtui: remedy show spec-external-depgen: needs --target: the provider's .spec "
        "(e.g. `kmodtui remedy show spec-external-depgen --target ./mymodule`)\n")


def test_risky_remedy_needs_explicit_acceptance_and_then_drops_ksym_requires(built: BuiltModules, installed_kernel: Kernel,
                                                                           tmp_path: Path) -> None:
    spec = write_kmod_spec(tmp_path / "kmod-consumer.spec", "kmod-consumer", [built.consumer_ko],
                           installed_kernel.release, generator="kmodtui")
    before = spec.read_bytes()
    refused = kmodtui("remedy", "apply", "drop-ksym-requires", "--target", str(spec), "--yes")
    assert refused.returncode == 2 and "risky" in refused.stderr and spec.read_bytes() == before
    shown = kmodtui("remedy", "show", "drop-ksym-requires", "--target", str(spec))
    assert "WARNING:" in shown.stdout
    undo_id = apply("drop-ksym-requires", "--target", str(spec), "--accept-risk")
    requires = run_ok([require_tool("rpm"), "-qp", "--requires", str(rpmbuild(spec, tmp_path / "t"))]).stdout
    assert "ksym(" not in requires and "kernel(_printk)" in requires
    undo_restores(undo_id, {spec: before})


def test_kbuild_extra_symbols_fixes_modpost(built: BuiltModules, tmp_path: Path) -> None:
    source = copy_source("consumer", tmp_path)
    assert kbuild(built.build_dir, source).returncode != 0  # modpost: undefined
    kbuild_file = source / "Kbuild"
    original = kbuild_file.read_bytes()
    undo_id = apply("kbuild-extra-symbols", "--target", str(source), "--with-symvers", str(built.provider_symvers))
    assert kbuild(built.build_dir, source).returncode == 0  # the referee agrees
    undo_restores(undo_id, {kbuild_file: original})


def test_kbuild_extra_symbols_edits_the_dkms_make_line(built: BuiltModules, tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path)  # has a dkms.conf with MAKE[0]
    conf = source / "dkms.conf"
    original = conf.read_bytes()
    undo_id = apply("kbuild-extra-symbols", "--target", str(source), "--with-symvers", str(built.provider_symvers))
    from kmodtui.core.build.dkmsconf import parse_dkms_conf
    assert f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}" in parse_dkms_conf(str(conf)).array("MAKE")[0]
    undo_restores(undo_id, {conf: original})


def test_import_namespace_fixes_modpost(built: BuiltModules, tmp_path: Path) -> None:
    source = copy_source("consumer", tmp_path, {"MODULE_IMPORT_NS(KMODTUI_NS);": ""})
    extra = f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}"
    refused = kbuild(built.build_dir, source, extra)
    assert refused.returncode != 0 and "does not import it" in refused.stdout + refused.stderr
    original = (source / "consumer.c").read_bytes()
    undo_id = apply("import-namespace", "--target", str(source), "--symbol", "provider_ns_fn", "--namespace", "KMODTUI_NS")
    assert kbuild(built.build_dir, source, extra).returncode == 0
    undo_restores(undo_id, {source / "consumer.c": original})


def test_deb_fix_depends_fixes_seed_002_for_real_dpkg(built: BuiltModules, tmp_path: Path) -> None:
    release = "6.1.0-99-custom"
    kernel_deb = build_deb(tmp_path, "linux-image", "6.1.999-2", {f"/boot/vmlinuz-{release}": b"x"})
    deb = build_deb(tmp_path, f"zfs-modules-{release}", "2.1.11-1",
                    {f"/lib/modules/{release}/updates/dkms/provider.ko": built.provider_ko}, depends=f"linux-image-{release}")
    original = deb.read_bytes()
    root = DpkgRoot(tmp_path / "root1")
    assert root.install(kernel_deb).returncode == 0
    assert root.install(deb).returncode != 0
    undo_id = apply("deb-fix-depends", "--target", str(deb), "--depends", "linux-image")
    assert run_ok([require_tool("dpkg-deb"), "-f", str(deb), "Depends"]).stdout.strip() == "linux-image"
    # the payload is untouched: data.tar.* identical, byte for byte (read with the real `ar`)
    def data_member(path: Path) -> bytes:
        names = run_ok([require_tool("ar"), "t", str(path)]).stdout.split()
        [data] = [n for n in names if n.startswith("data.tar")]
        return subprocess.run([require_tool("ar"), "p", str(path), data], capture_output=True, check=True).stdout
    original_copy = tmp_path / "original.deb"
    original_copy.write_bytes(original)
    assert hashlib.sha256(data_member(deb)).digest() == hashlib.sha256(data_member(original_copy)).digest()
    root = DpkgRoot(tmp_path / "root2")
    assert root.install(kernel_deb).returncode == 0
    assert root.install(deb).returncode == 0  # the referee agrees
    undo_restores(undo_id, {deb: original})


def test_preview_then_file_changes_then_apply_refuses(tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    plan = get_remedy("spec-external-depgen").plan(RemedyOptions(target=str(spec)))
    spec.write_text("Name: p\n# someone else edited this\n%prep\n")
    edited = spec.read_bytes()
    with pytest.raises(KmodError, match="changed since"):
        apply_edits(plan.remedy, list(plan.edits))
    assert spec.read_bytes() == edited


def test_undo_refuses_when_the_file_changed_after_apply(tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    undo_id = apply("spec-external-depgen", "--target", str(spec))
    spec.write_text(spec.read_text() + "# later edit\n")
    result = kmodtui("remedy", "undo", undo_id)
    assert result.returncode == 2 and "changed since the remedy was applied" in result.stderr


def test_read_only_tree_is_refused_and_left_alone(tmp_path: Path) -> None:
    """A read-only tree: as root (CI), a tmpfs remounted read-only, since root writes through file modes."""
    tree = tmp_path / "ro"
    tree.mkdir()
    mounted = False
    if os.geteuid() == 0:
        if run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tree)]).returncode != 0:
            pytest.skip("cannot mount a tmpfs here to make a tree read-only for root")
        mounted = True
    spec = tree / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    try:
        if mounted:
            run_ok(["mount", "-o", "remount,ro", str(tree)])
        else:
            os.chmod(spec, 0o444)
            os.chmod(tree, 0o555)
        result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes")
        assert result.returncode == 2 and "read-only" in result.stderr, result.stderr
        assert spec.read_text() == "Name: p\n%prep\n"
    finally:
        if mounted:
            run(["umount", str(tree)])
        else:
            os.chmod(tree, 0o755)


def test_system_files_are_never_edited() -> None:
    for path in ("/usr/lib/rpm/macros", "/etc/hostname"):
        if os.path.exists(path):
            with pytest.raises(KmodError, match="system file"):
                apply_edits("x", [FileEdit(path, open(path, "rb").read(), b"changed")])


def test_remedy_list_json_names_every_remedy_and_its_risk() -> None:
    listed = json.loads(kmodtui("remedy", "list", "--json").stdout)["remedies"]
    ids = {r["id"]: r["risk"] for r in listed}
    assert ids["drop-ksym-requires"] == "risky" and ids["spec-external-depgen"] == "safe"
    assert {"kbuild-extra-symbols", "import-namespace", "deb-fix-depends", "install-headers",
            "autotools-redhat-spec", "redhat-kernel-version", "rebuild-for-kernel"} <= set(ids)


def test_apply_without_yes_and_without_a_terminal_asks_nothing_and_changes_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), input="y\n")
    assert result.returncode == 2 and "--yes" in result.stderr
    assert spec.read_text() == "Name: p\n%prep\n"


def test_undo_by_remedy_id_and_target_or_the_last_one(tmp_path: Path) -> None:
    """The README's `remedy undo ID --target FILE` said "no such applied remedy"; bare `remedy undo`
    undoes the last one; the id `apply` printed keeps working."""
    env = {**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "state")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kmodtui", "remedy", *args], capture_output=True, text=True,
                              env=env)

    specs = []
    for name in ("a", "b"):
        spec = tmp_path / f"{name}.spec"
        spec.write_text(f"Name: {name}\n%prep\n")
        specs.append(spec)
        assert cli("apply", "spec-external-depgen", "--target", str(spec), "--yes").returncode == 0
    first = cli("undo", "spec-external-depgen", "--target", str(specs[0]), "--json")
    assert first.returncode == 0, first.stderr
    assert specs[0].read_text() == "Name: a\n%prep\n" and "_use_internal" in specs[1].read_text()
    assert str(specs[0]) in json.loads(first.stdout)["restored"][0]
    last = cli("undo")
    assert last.returncode == 0 and specs[1].read_text() == "Name: b\n%prep\n"
    nothing = cli("undo")
    assert nothing.returncode == 2 and "no applied remedy to undo" in nothing.stderr
