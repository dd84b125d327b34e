"""The compat remedy on real sources from Debian's archive (issue 30): bookworm `*-dkms` packages that
real dkms fails to build against Debian 13's kernel (6.12, in its debootstrap chroot) because of one
kernel API change the table marks rewritable. kmodtui's dkms-mode build names the change, the remedy
rewrites the source (guarded by LINUX_VERSION_CODE), and then real dkms builds it on 6.12 and still
on this machine's bookworm 6.1, and `kmodtui resolve` of the new modules against 6.12 is clean.
The whole table, every corpus source on Debian 13's and unstable's kernels, is bench/dkms_compat.py.

Each is one small module (one .c file): 25-64 s each on a shared 2-core machine under load (about 14 s
of CPU each, user+sys); the namespace test, a tiny module on unstable's kernel and on 6.1, 11-17 s."""

from __future__ import annotations

import glob
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.chroots import debian_chroot
from tests.dkmscompat import through_the_world
from tests.realtools import apt_download_from

pytestmark = [pytest.mark.slow, pytest.mark.network]

# package -> the changes the remedy applies, in the order the rebuilds name them (each a different
# kind of rewrite: a call's arguments and a callback's const parameter, a rename where the value is
# unused, an initializer kept for older kernels)
SOURCES = {
    "vpoll-dkms": ["class_create-one-argument", "class-devnode-const"],
    "nat-rtsp-dkms": ["strlcpy-removed"],
    "langford-dkms": ["no_llseek-removed"],
}


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_the_compat_remedy_makes_a_debian_source_build_on_a_newer_kernel(package: str, installed_kernel: Kernel,
                                                                          tmp_path: Path) -> None:
    if not installed_kernel.release.startswith("6.1."):
        pytest.skip(f"the older kernel is bookworm's 6.1; the headers here are {installed_kernel.release}")
    root = debian_chroot("trixie")
    [headers] = glob.glob(str(root / "usr" / "src" / "linux-headers-*-amd64"))
    release = headers.split("linux-headers-", 1)[1]
    deb = apt_download_from(package, "bookworm", "main")
    result = through_the_world(deb, root, release, installed_kernel.release, tmp_path / "older")
    assert not result.dkms.ok, f"real dkms built {package} on {release}: nothing for the remedy to show"
    assert result.diagnosis["cause"] == "kernel_api_change"
    assert result.diagnosis["api_change"]["id"] == SOURCES[package][0]
    assert "kernel-compat" in result.diagnosis["remedies"]
    assert result.changes == SOURCES[package] and result.remedied, result.stopped
    assert result.dkms_after is not None and result.dkms_after.ok, result.dkms_after and result.dkms_after.log[-2000:]
    assert result.older is not None and result.older.ok, result.older and result.older.log[-2000:]
    assert result.resolve == "clean"


NAMESPACED = """#include <linux/module.h>
#include <linux/dma-buf.h>

static int __init nsx_init(void)
{
\treturn 0;
}
module_init(nsx_init);
MODULE_IMPORT_NS(DMA_BUF);
MODULE_LICENSE("GPL");
"""


def test_the_namespace_string_form_builds_on_unstable_and_on_6_1(installed_kernel: Kernel, tmp_path: Path) -> None:
    """6.13 made the namespace a string literal: a module importing DMA_BUF the old way fails on
    unstable's 7.x (gcc's echo of the line is what names the change); the remedy writes both forms
    under a LINUX_VERSION_CODE guard; 7.x and this machine's 6.1 build it, and modinfo reads the import."""
    import shutil
    import tempfile

    from kmodtui.core.diagnose import diagnose_text
    from kmodtui.core.diagnose.report import diagnosis_json
    from kmodtui.core.remedies import edits
    from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy
    from tests.chroots import in_chroot
    from tests.realtools import kbuild

    root = debian_chroot("sid")
    [headers] = glob.glob(str(root / "usr" / "src" / "linux-headers-*-amd64"))
    build = f"/usr/src/{Path(headers).name}"
    source = Path(tempfile.mkdtemp(prefix="nsx-", dir=root / "var" / "tmp"))
    inside = "/" + str(source.relative_to(root))
    try:
        (source / "nsx.c").write_text(NAMESPACED)
        (source / "Kbuild").write_text("obj-m := nsx.o\n")
        failed = in_chroot(root, f"make -C {build} M={inside} modules")
        assert failed.returncode != 0
        primary = diagnosis_json(diagnose_text(failed.stdout + failed.stderr))["primary"]
        assert primary["api_change"]["id"] == "module-import-ns-string" and "kernel-compat" in primary["remedies"]
        plan = get_remedy("kernel-compat").plan(RemedyOptions(target=str(source), change="module-import-ns-string"))
        edits.apply_edits(plan.remedy, list(plan.edits))
        assert 'MODULE_IMPORT_NS("DMA_BUF");' in (source / "nsx.c").read_text()
        built = in_chroot(root, f"make -C {build} M={inside} modules && modinfo -F import_ns {inside}/nsx.ko")
        assert built.returncode == 0 and built.stdout.strip().endswith("DMA_BUF"), built.stdout[-1500:] + built.stderr[-1500:]
        older = tmp_path / "nsx"
        shutil.copytree(source, older, ignore=shutil.ignore_patterns("*.o", "*.ko", "*.mod*", ".*", "Module.symvers", "modules.order"))
    finally:
        shutil.rmtree(source, ignore_errors=True)
    if installed_kernel.release.startswith("6.1."):
        rebuilt = kbuild(installed_kernel.build_dir, older)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        import subprocess

        assert subprocess.run(["modinfo", "-F", "import_ns", str(older / "nsx.ko")], capture_output=True,
                              text=True).stdout.strip() == "DMA_BUF"
