"""Issue 33 on a real kernel: the Secure Boot doctor's verdict against what the loader of a real Secure
Boot machine does (tests/sbvm.py: QEMU, Debian's OVMF with Secure Boot on and Microsoft's keys, Debian's
signed shim, grub and kernel, kmodtui's certificate in shim's MokList).

A module kmodtui built and signed with its own key (enrolled in MOK), the same module signed with a key
that is not enrolled (`kmodtui sign --new-key`), and unsigned, are insmodded in two boots: shim telling
the kernel to trust MOK keys (MokListTrustedRT, its default), and told not to (MokListTrusted set, what
`mokutil --untrust-mok` asks MokManager for). The guest prints the files the doctor reads (efivars, the
MOK config table, /proc/keys, lockdown, mokutil's and keyctl's outputs, run in the guest); the doctor
reads that recorded state with --root, and its verdict for each module is held against the kernel's
own answer. (Seen here: Debian 12's kernel puts the MOK keys into .machine in both boots, and loads
kmodtui's module in both; the doctor, reading the keyrings, says so. Both name-alike kmodtui keys are told
apart by the enrolled certificate's skid.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.build.job import start_detached
from tests import sbvm
from tests.realtools import copy_source, require_tool, run, run_ok
from tests.ui.waiting import build_done

pytestmark = [pytest.mark.slow, pytest.mark.network]


def kmodtui(*args: str, env: dict[str, str], ok: bool = False) -> subprocess.CompletedProcess[str]:
    return (run_ok if ok else run)([sys.executable, "-m", "kmodtui", *args], env=env)


def vm_kernel(installed_release: str) -> str:
    """The kernel to build for and boot: the installed headers' when Debian's archive still has that
    release's signed image, else the archive's current bookworm kernel (kmodtui fetches its headers)."""
    listed = run([require_tool("apt-cache"), "show", f"linux-image-{installed_release}"])
    return installed_release if listed.returncode == 0 and listed.stdout.strip() else "debian:bookworm"


@pytest.mark.timeout(1800)  # a build, the signed boot files downloaded once, two boots of ~11 s each under TCG
def test_the_doctor_says_what_a_real_secure_boot_kernel_does_with_a_kmodtui_signed_module(
        installed_kernel, monkeypatch, tmp_path: Path) -> None:
    if run(["dpkg", "--print-architecture"]).stdout.strip() != "amd64":
        pytest.skip("the signed shim, grub and kernel used here are Debian's amd64 ones")
    for tool in ("qemu-system-x86_64", "mkfs.vfat", "mcopy", "sfdisk", "mokutil", "keyctl", "cpio"):
        require_tool(tool)
    state_dir = tmp_path / "state"
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(state_dir))
    env = {"KMODTUI_STATE_DIR": str(state_dir)}
    provider = copy_source("provider", tmp_path / "src")
    [record] = start_detached(str(provider), [vm_kernel(installed_kernel.release)], "kbuild")
    status = build_done(record, 900)
    assert status["state"] == "succeeded", status
    release = status["kernel"]
    [built] = [Path(a) for a in status["artifacts"] if a.endswith(".ko")]
    modules = tmp_path / "modules"
    modules.mkdir()
    # insmod tries them in this order (the same module: the first that loads makes the rest "File exists")
    unsigned, stranger, signed = (modules / n for n in ("1-unsigned.ko", "2-unenrolled-key.ko", "3-kmodtui-signed.ko"))
    for copy in (unsigned, stranger, signed):
        copy.write_bytes(built.read_bytes())
    cert = Path(json.loads(kmodtui("sign", str(signed), "--json", env=env, ok=True).stdout)["cert"])
    kmodtui("sign", str(stranger), "--new-key", str(tmp_path / "other-key"), env=env, ok=True)
    key_id = run_ok([require_tool("modinfo"), "-F", "sig_key", str(signed)]).stdout.strip()

    files = sbvm.boot_files(release)
    image = sbvm.initrd(tmp_path, files, release, [unsigned, stranger, signed])
    disk = sbvm.esp_disk(tmp_path, files, release, image)
    seen = {}
    for trusted in (True, False):
        console = sbvm.boot(tmp_path, disk, sbvm.varstore(tmp_path, cert, trusted))
        state = tmp_path / f"recorded-{'trusted' if trusted else 'untrusted'}"
        insmod = sbvm.recorded_state(console, state, files, release)
        result = kmodtui("secureboot", "--root", str(state), *(a for m in (unsigned, stranger, signed)
                                                                for a in ("--module", str(m))), "--json", env=env)
        assert result.returncode in (0, 1), result.stderr
        payload = json.loads(result.stdout)
        # the machine is what it should be: Secure Boot on, lockdown from it
        assert payload["boot"]["efi"] is True and payload["boot"]["secure_boot"] is True, payload["boot"]
        assert payload["boot"]["lockdown"] == "integrity", payload["boot"]
        by_path = {m["path"]: m for m in payload["modules"]}
        assert by_path[str(signed)]["key_id"] == key_id and by_path[str(signed)]["own_key"], by_path[str(signed)]
        # the doctor's verdict is the kernel's answer, module by module
        for module in (unsigned, stranger, signed):
            loaded = sbvm.insmod_loaded(insmod[module.name])
            assert loaded or sbvm.REFUSED in insmod[module.name], insmod[module.name]
            assert by_path[str(module)]["outcome"] == ("will load" if loaded else "will be refused"), \
                (trusted, module.name, insmod[module.name], by_path[str(module)])
        assert not sbvm.insmod_loaded(insmod[unsigned.name]) and not sbvm.insmod_loaded(insmod[stranger.name])
        if trusted:  # shim's MokListTrustedRT: kmodtui's key is in .machine, and the kernel loads its module
            assert sbvm.insmod_loaded(insmod[signed.name])
            assert any("kmodtui" in key for key in payload["keyrings"][".machine"]), payload["keyrings"]
        assert payload["boot"]["mok_trusted"] is trusted, payload["boot"]  # MokListTrustedRT, as shim left it
        seen[trusted] = payload
        keep = os.environ.get("KMODTUI_RECORD_SB_VM")  # where to keep the states (tests/secureboot_states/)
        if keep:
            sbvm.keep_state(state, Path(keep) / f"qemu-debian12-sb-mok-{'trusted' if trusted else 'untrust-asked'}"
                            "-made-here", insmod, [unsigned, stranger, signed], cert)
    print(json.dumps({str(k): {m["path"].rsplit("/", 1)[1]: m["outcome"] for m in v["modules"]}
                      for k, v in seen.items()}))
