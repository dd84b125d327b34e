"""kmodtui inside Debian 13 (6.12) and unstable (7.x) chroots made with debootstrap: each release's own
headers, compiler (gcc-14, gcc-16), dkms (3.2), kmod (34), dpkg and Python. The examples are built in
kbuild, deb and dkms mode; the modules come out compressed as those kernels compress theirs (xz,
CRC32 check), the consumer resolves against the kernel and the provider, the .deb installs into a
scratch root with that release's dpkg, and that release's depmod and modinfo read the result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.chroots import debian_chroot, in_chroot, kmodtui_in
from tests.realtools import REPO

pytestmark = [pytest.mark.slow, pytest.mark.network]

STATE = {"KMODTUI_STATE_DIR": "/var/tmp/kmodtui-state", "KMODTUI_CACHE_DIR": "/var/tmp/kmodtui-cache"}


@pytest.fixture(scope="module", params=["trixie", "sid"])
def chroot(request: pytest.FixtureRequest) -> tuple[Path, dict]:
    root = debian_chroot(request.param)
    shutil.rmtree(root / "src", ignore_errors=True)
    shutil.copytree(REPO / "kmodtui" / "examples", root / "src")
    result = kmodtui_in(root, "kernels --json")
    assert result.returncode == 0, result.stderr
    [kernel] = json.loads(result.stdout)["kernels"]
    return root, kernel


def _build(root: Path, kernel: dict, args: str) -> dict:
    result = kmodtui_in(root, f"build --kernel {kernel['release']} {args} --json", **STATE)
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    [exit_event] = [e for e in events if e.get("event") == "exit"]
    assert exit_event["state"] == "succeeded", in_chroot(root, f"tail -40 {exit_event['log']}").stdout
    return exit_event


def test_the_release_kernel_is_read_as_it_is(chroot: tuple[Path, dict]) -> None:
    """Flavor amd64 (not deb13-amd64), xz-compressed modules, and the compiler the headers name
    (x86_64-linux-gnu-gcc-14/-16: Debian 13 on always sets CROSS_COMPILE) found and matching."""
    _root, kernel = chroot
    assert kernel["flavor"] == "amd64" and kernel["module_compression"] == "xz"
    assert kernel["compiler_command"].startswith("x86_64-linux-gnu-gcc-") and kernel["compiler_matches"]


def test_kbuild_mode_makes_xz_modules_the_releases_tools_read(chroot: tuple[Path, dict]) -> None:
    root, kernel = chroot
    provider = _build(root, kernel, "--source /src/provider --mode kbuild")
    [ko_xz] = provider["artifacts"]
    assert ko_xz.endswith("/provider.ko.xz")
    listed = in_chroot(root, f"xz --robot --list {ko_xz}").stdout  # the kernel's decompressor takes CRC32 only
    assert "\tCRC32\t" in listed or "CRC32" in listed.split("\n")[-2], listed
    vermagic = in_chroot(root, f"modinfo -F vermagic {ko_xz}").stdout.strip()
    assert vermagic.startswith(kernel["release"] + " ")
    # the consumer, built against the provider's symbols, resolves with the provider and the kernel
    work = ko_xz.rsplit("/out/", 1)[0]
    provider_symvers = in_chroot(root, f"find {work} -name Module.symvers -path '*provider*'").stdout.split()[0]
    consumer = _build(root, kernel, f"--source /src/consumer --mode kbuild --extra-symbols {provider_symvers}")
    [consumer_xz] = consumer["artifacts"]
    resolved = kmodtui_in(root, f"resolve {consumer_xz} --with {ko_xz} --kernel {kernel['release']} --json")
    report = json.loads(resolved.stdout)
    statuses = {f["symbol"]: f["status"] for f in report["findings"]}
    assert resolved.returncode == 0 and set(statuses.values()) == {"ok"}, resolved.stdout[-1500:]
    assert {"provider_fn", "provider_gpl_fn", "provider_ns_fn"} <= set(statuses)


def test_deb_mode_installs_with_the_releases_dpkg_and_depmod_reads_it(chroot: tuple[Path, dict]) -> None:
    """The .deb ships /usr/lib/modules/<release>/updates/provider.ko.xz (these releases' kernels
    ship /usr/lib/modules) and depends on the package that owns the kernel image there (Debian 13:
    linux-image-<release> with /boot/vmlinuz-<release>; unstable: linux-binary-<release> with
    /usr/lib/modules/<release>/vmlinuz, linux-image-<release> being a metapackage). dpkg of that
    release installs it into a scratch root (without the kernel: --force-depends), its postinst
    runs that release's depmod there, and modules.dep lists the compressed module."""
    root, kernel = chroot
    release = kernel["release"]
    built = _build(root, kernel, "--source /src/provider --mode deb")
    [deb] = [a for a in built["artifacts"] if a.endswith(".deb")]
    contents = in_chroot(root, f"dpkg-deb -c {deb}").stdout
    assert f"./usr/lib/modules/{release}/updates/provider.ko.xz" in contents, contents
    owner = in_chroot(root, f"dpkg -S /boot/vmlinuz-{release} /usr/lib/modules/{release}/vmlinuz 2>/dev/null | "
                            "head -1 | cut -d: -f1").stdout.strip()
    assert owner and in_chroot(root, f"dpkg-deb -f {deb} Depends").stdout.strip() == owner
    # a Debian 13+ root is merged-/usr: /lib is a link to usr/lib (kmod's depmod -b looks in <root>/lib/modules)
    script = (f"rm -rf /scratch && mkdir -p /scratch/usr/lib /scratch/var/lib/dpkg/info /scratch/var/lib/dpkg/updates "
              f"&& ln -s usr/lib /scratch/lib "
              f"&& touch /scratch/var/lib/dpkg/status && dpkg --root=/scratch --force-script-chrootless "
              f"--force-depends --log=/dev/null -i {deb} && cat /scratch/usr/lib/modules/{release}/modules.dep")
    installed = in_chroot(root, script)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "updates/provider.ko.xz:" in installed.stdout
    shipped = f"/scratch/usr/lib/modules/{release}/updates/provider.ko.xz"
    assert in_chroot(root, f"modinfo -F name {shipped}").stdout.strip() == "provider"


def test_dkms_mode_compresses_as_the_releases_dkms_does(chroot: tuple[Path, dict]) -> None:
    """Real dkms 3.2 compresses a built module when the kernel's tree holds compressed ones; its
    private install tree tells it so, and the module is .ko.xz."""
    root, kernel = chroot
    built = _build(root, kernel, "--source /src/provider --mode dkms")
    [module] = built["artifacts"]
    assert module.endswith("/provider.ko.xz")
    assert in_chroot(root, f"modinfo -F vermagic {module}").stdout.startswith(kernel["release"] + " ")



def test_rpm_modes_build_with_the_releases_rpm(chroot: tuple[Path, dict]) -> None:
    """rpm 4.20 (Debian 13) and rpm 6.1 (unstable, which writes v6 packages and refused the external
    generator rpm-redhat mode uses until the spec asked for v4). With MODVERSIONS (6.12) the package
    provides ksym(sym) = CRC; without (7.2) no ksym() at all, as RHEL's generators read CRCs the
    module does not have."""
    root, kernel = chroot
    for mode in ("rpm-generic", "rpm-redhat"):
        built = _build(root, kernel, f"--source /src/provider --mode {mode}")
        [package] = [a for a in built["artifacts"] if a.endswith(".rpm")]
        provides = in_chroot(root, f"rpm -qp --provides {package}").stdout.split("\n")
        ksyms = [p for p in provides if p.startswith("ksym(")]
        if mode == "rpm-generic" or not kernel["modversions"]:
            assert ksyms == [], provides
        else:
            assert any(p.startswith("ksym(provider_fn) = 0x") and not p.endswith("0x00000000") for p in ksyms), provides



def test_namespace_remedy_writes_the_form_the_release_compiles(chroot: tuple[Path, dict]) -> None:
    """Without MODULE_IMPORT_NS, modpost refuses the consumer; `diagnose` names the cause; the remedy,
    told the kernel, writes MODULE_IMPORT_NS("KMODTUI_NS") for 6.13+ (a string literal there: the
    bare name no longer compiles), and the rebuild succeeds with modinfo showing the import."""
    root, kernel = chroot
    release = kernel["release"]
    source = root / "src" / "consumer-nons"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(root / "src" / "consumer", source)
    consumer_c = source / "consumer.c"
    consumer_c.write_text(consumer_c.read_text().replace("MODULE_IMPORT_NS(KMODTUI_NS);\n", ""))
    provider = _build(root, kernel, "--source /src/provider --mode kbuild")
    work = provider["artifacts"][0].rsplit("/out/", 1)[0]
    symvers = in_chroot(root, f"find {work} -name Module.symvers -path '*provider*'").stdout.split()[0]
    failed = kmodtui_in(root, f"build --kernel {release} --source /src/consumer-nons --mode kbuild "
                              f"--extra-symbols {symvers} --json", **STATE)
    [exit_event] = [json.loads(line) for line in failed.stdout.splitlines() if '"exit"' in line]
    assert exit_event["state"] == "failed" and exit_event["primary"]["cause"] == "namespace_not_imported"
    applied = kmodtui_in(root, f"remedy apply import-namespace --target /src/consumer-nons --symbol provider_ns_fn "
                               f"--namespace KMODTUI_NS --kernel {release} --yes", **STATE)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    modern = tuple(int(x) for x in release.split(".")[:2]) >= (6, 13)
    assert ('MODULE_IMPORT_NS("KMODTUI_NS");' if modern else "MODULE_IMPORT_NS(KMODTUI_NS);") in consumer_c.read_text()
    rebuilt = _build(root, kernel, f"--source /src/consumer-nons --mode kbuild --extra-symbols {symvers}")
    assert in_chroot(root, f"modinfo -F import_ns {rebuilt['artifacts'][0]}").stdout.strip() == "KMODTUI_NS"


LONG = "kmodtui_a_symbol_name_longer_than_the_fifty_six_bytes_a_basic_record_holds"


@pytest.fixture(scope="module")
def unstable() -> tuple[Path, dict]:
    root = debian_chroot("sid")
    [kernel] = json.loads(kmodtui_in(root, "kernels --json").stdout)["kernels"]
    return root, kernel


def test_extended_modversions_made_by_linux_7s_own_modpost_are_read_as_the_loader_reads_them(
        unstable: tuple[Path, dict]) -> None:
    """Unstable's kernel is built without MODVERSIONS, but its headers carry 7.2's genksyms and
    modpost: with CONFIG_MODVERSIONS, CONFIG_BASIC_MODVERSIONS and CONFIG_EXTENDED_MODVERSIONS on
    make's command line, kbuild makes a consumer with both a basic __versions (no room for a 74-byte
    name) and the __version_ext_* arrays. kmodtui reads the arrays, as the 6.14+ loader does: the
    CRC of every symbol, the long one too, is what modpost wrote into consumer.mod.c; kmod 34's
    modprobe --dump-modversions reads only the basic records."""
    import re

    from kmodtui.core.elf.module import read_module_symbols

    root, kernel = unstable
    assert kernel["modversions"] is False and (root / kernel["build_dir"].lstrip("/") / "scripts" / "genksyms").exists()
    shutil.rmtree(root / "xt", ignore_errors=True)
    shutil.copytree(REPO / "kmodtui" / "examples", root / "xt")
    provider_c = root / "xt" / "provider" / "provider.c"
    provider_c.write_text(provider_c.read_text() + f"\nint {LONG}(int x)\n{{\n\treturn x + 3;\n}}\nEXPORT_SYMBOL({LONG});\n")
    consumer_c = root / "xt" / "consumer" / "consumer.c"
    consumer_c.write_text(consumer_c.read_text().replace("int provider_ns_fn(int x);", f"int provider_ns_fn(int x);\nint {LONG}(int x);")
                          .replace("provider_ns_fn(3);", f"provider_ns_fn(3) + {LONG}(4);"))
    # modpost -m adds module_layout, which a kernel without MODVERSIONS does not export
    (root / "xt" / "layout.symvers").write_text("0x00000000\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n")
    flags = "CONFIG_MODVERSIONS=y CONFIG_GENKSYMS=y CONFIG_BASIC_MODVERSIONS=y CONFIG_EXTENDED_MODVERSIONS=y"
    make = f"make -C {kernel['build_dir']} {flags}"
    built = in_chroot(root, f"{make} M=/xt/provider KBUILD_EXTRA_SYMBOLS=/xt/layout.symvers modules && "
                            f"{make} M=/xt/consumer 'KBUILD_EXTRA_SYMBOLS=/xt/provider/Module.symvers /xt/layout.symvers' modules")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    mod_c = (root / "xt" / "consumer" / "consumer.mod.c").read_text()
    crcs_text = mod_c.split('__section("__version_ext_crcs")', 1)[1].split("};", 1)[0]
    names_text = mod_c.split('__section("__version_ext_names")', 1)[1].split(";", 1)[0]
    modpost_says = list(zip(re.findall(r'"([^"\\]+)\\0"', names_text), [int(c, 16) for c in re.findall(r"0x[0-9a-f]+", crcs_text)]))
    assert (LONG, int((root / "xt" / "provider" / "Module.symvers").read_text().split(LONG)[0].split()[-1], 16)) in modpost_says
    ours = read_module_symbols(str(root / "xt" / "consumer" / "consumer.ko"))
    assert dict(ours.needs) == dict(modpost_says)  # every symbol and CRC modpost put in the arrays
    kmod = in_chroot(root, "modprobe --dump-modversions /xt/consumer/consumer.ko").stdout
    assert "provider_fn" in kmod and LONG not in kmod


def test_the_same_kmodtui_is_not_reinstalled_under_a_running_one(chroot: tuple[Path, dict]) -> None:
    """Tests (and builds) on other workers run the chroot's kmodtui while another asks for the chroot:
    when the package there is this very kmodtui (its digest stamp), nothing is swapped under them."""
    from kmodtui.core.build.chroot import VENV, install_kmodtui

    root, _ = chroot
    [package] = (root / VENV.lstrip("/") / "lib").glob("python3*/site-packages/kmodtui")
    before = package.stat().st_ino
    install_kmodtui(str(root))
    assert package.stat().st_ino == before and (package.parent / ".kmodtui-digest").is_file()
