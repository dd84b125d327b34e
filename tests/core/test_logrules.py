"""One rule table for the build screen and `diagnose` (architecture step 2, item 3): every line
`diagnose` names a cause for, the build screen's live scan names too, by the same rule.

The lines are each rule's example: lines of the real logs in tests/logs/ and of the real tools'
output in tests/core/test_logscan.py."""

from __future__ import annotations

from kmodtui.core.build.logscan import scan_line
from kmodtui.core.diagnose import diagnose_text

# The loader's line (dmesg, tests/logs/013) that `diagnose` names and the build screen missed.
LOADER_NAMESPACE = ("[ 3357.743660] lisa: module uses symbol (filp_open) from namespace "
                    "VFS_internal_I_am_really_a_filesystem_and_am_NOT_a_driver, but does not import it.")

# One line per rule `diagnose` had before the tables were one (its cause in the comment).
DIAGNOSED_LINES = [
    "kmodtui: cannot run dkms: No such file or directory (install it: sudo apt-get install dkms)",  # tool_missing
    "kmodtui: /tmp/src: is in use by another kmodtui (pid 4242, build of /tmp/src, since 12:00:00); wait for it",
    "kmodtui: the build finished without an error but made no module: the source's Makefile built nothing here",
    "mkdir: cannot create directory ‘/var/lib/dkms’: Read-only file system",  # immutable_host
    "/usr/sbin/akmods: line 312: yum: command not found",
    "Error! Your kernel headers for kernel 6.16.8+kali-amd64 cannot be found at /lib/modules/6.16.8+kali-amd64/build",
    "==> Unable to install module gcadapter-oc-dkms/1.4 for kernel 4.14.215-1-MANJARO: Missing kernel headers.",
    "make[1]: *** /lib/modules/5.9.11-arch1-1/build: No such file or directory.  Stop.",
    "module vmmon: .gnu.linkonce.this_module section size must match the kernel's built struct module size at run time",
    "Version mismatch: module vmmon-only/vmmon.ko 5.19.0-32-generic, kernel 5.19.0-35-generic",
    "corefreqk: version magic '5.10.11-200.fc33.x86_64 SMP mod_unload ' should be '5.10.12-200.fc33.x86_64 SMP mod_unload '",
    "/bin/sh: 1: ./tools/objtool/objtool: not found",  # headers_incomplete
    "/bin/sh: line 1: scripts/basic/fixdep: cannot execute binary file: Exec format error",
    "make[2]: *** No rule to make target 'tools/objtool/objtool', needed by 'modules'.  Stop.",
    "make[2]: /usr/src/linux-headers-5.10.0-8-amd64/tools/objtool/objtool: No such file or directory",
    "  DESCEND  objtool",  # kernel_api_change (SUBDIRS=)
    " ERROR: Kernel configuration is invalid.",
    'Makefile:938: *** "Cannot generate ORC metadata for CONFIG_ORC_UNWINDER=y, please install libelf-dev".  Stop.',
    "/bin/sh: 1: pahole: not found",  # build_dependency_missing
    "make[1]: bc: Command not found",
    "tools/objtool/elf.h:10:10: fatal error: gelf.h: No such file or directory",
    "gcc: error: unrecognized command line option ‘-mgeneral-regs-only’",  # wrong_arch
    "configure: error: C compiler cannot create executables",
    "        *** Please make sure the kmod spl devel <kernel> package for your",  # dkms_dependency_missing
    "configure: error: in `/var/lib/dkms/spl/0.6.5.3/build':",
    "Module splat.ko from kernel 3.10.0-327.28.3.el7.x86_64 is not compatible   with kernel 3.10.0-514.el7.x86_64 "
    "in symbols: getrawmonotonic",  # kabi_mismatch
    "/bin/sh: 1: gcc-13: not found",  # compiler_mismatch
    "make[1]: x86_64-linux-gnu-gcc-12: No such file or directory",
    "gcc: error: unrecognized command-line option ‘-ftrivial-auto-var-init=zero’",
    "cc1: error: incompatible gcc/plugin versions",
    'ERROR: modpost: "drm_fbdev_ttm_setup" [/var/lib/dkms/nvidia/560.35.03/build/kernel-open/nvidia-drm.ko] undefined!',
    "ERROR: modpost: module xt_RTPENGINE uses symbol crypto_cipher_encrypt_one from namespace CRYPTO_INTERNAL, "
    "but does not import it.",
    LOADER_NAMESPACE,
    "ERROR: modpost: GPL-incompatible module gdrdrv.ko uses GPL-only symbol 'cc_mkdec'",
    "spl.o: error: objtool: spl_kmem_cache_destroy+0x23d: spl_panic() missing __noreturn in .c/.h",
    "kmodtui: /usr/src/linux-headers-6.12.48+deb13-amd64: its kbuild tools (../../lib/linux-kbuild-6.12/scripts) "
    "are not on this machine: build it in a container or chroot of its own release",  # tool_missing
    "  130 | MODULE_IMPORT_NS(DMA_BUF);",  # kernel_api_change
    "xpad.c:851:33: error: implicit function declaration  ‘from_timer’",
    "provider.c:1:10: fatal error: linux/kmodtui_gone.h: No such file or directory",
    "cc1: all warnings being treated as errors",  # werror
    "xpad.c:851:53: error: ‘ghl_poke_timer’ undeclared here",
    "make[2]: *** No rule to make target `/root/rpmbuild/BUILD/iomemory-vsl/driver_source/main.o', needed by `x'.",
    "           Requires: ksym(dmu_bonus_hold) = 0x3eaac876",  # ksym_not_provided
    "           Requires: kernel(filp_open) = 0x3a4a1b6f",  # kabi_mismatch
    "  - nothing provides /sbin/depmod needed by kmod-zfs-4.18.0-80.el8.x86_64-0.8.0-rc4.el8.x86_64",
    "\tgcc-c++ is needed by nvidia-kmod-3:590.48.01-1.fc43.x86_64",  # package_depends_unmet
    " linux-headers-5.0.5-050005-generic : Depends: libssl1.1 (>= 1.1.0) but it is not installable",
    "  Package linux-image-6.1.0-99-custom is not installed.",
    "Error! The /var/lib/dkms/r8169/4/6.2.0-20-generic/x86_64/dkms.conf for module r8169 includes a BUILD_EXCLUSIVE "
    "directive which does not match this kernel/arch/config.",
    "exactly matches what is already found in kernel 6.1.7-arch1-1.",  # dkms_version_conflict
    "nvidia-fs/2.26.6 autoinstall failed due to missing dependencies: nvidia.",
    "find: '/var/lib/dkms/xtables-addons': No such file or directory",
    "ec_master: disagrees about version of symbol module_layout",  # crc_mismatch
    "lisa: Unknown symbol filp_open (err -22)",  # unknown_symbol
    "Failed to insert module 'gasket': Key was rejected by service",
    "insmod: ERROR: could not insert module master/ec_master.ko: Invalid module format",  # stale_module
    "Binary update-secureboot-policy not found, modules won't be signed",  # signing_key_missing
    "Error! Bad return status for module build on kernel: 6.16.0-3-MANJARO (x86_64)",  # dkms_build_failed
]


def test_the_live_scan_names_the_loaders_namespace_line() -> None:
    assert diagnose_text(LOADER_NAMESPACE).primary.cause == "namespace_not_imported"
    finding = scan_line(LOADER_NAMESPACE, 1)
    assert finding is not None and finding.remedies == ("import-namespace",)
    assert finding.detail("symbol") == "filp_open" and finding.detail("module") == "lisa"


def test_the_live_scan_names_every_line_diagnose_names() -> None:
    """Before the tables were one, the build screen's scan named no finding for 32 of these 58 lines."""
    missed = []
    for line in DIAGNOSED_LINES:
        diagnosis = diagnose_text(line)
        assert diagnosis.primary is not None, line
        if scan_line(line, 1) is None:
            missed.append(f"{diagnosis.primary.cause}: {line}")
    assert not missed, f"{len(missed)} of {len(DIAGNOSED_LINES)} lines missed by the live scan:\n" + "\n".join(missed)
