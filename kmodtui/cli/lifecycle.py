"""Across kernel updates: `check-update`, `sign`, `check-userspace`."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, kernel_from_spec, print_json, say
from kmodtui.core.errors import KmodError


def cmd_check_update(args: argparse.Namespace) -> int:
    from kmodtui.core.build.sources import detect_source, out_of_range
    from kmodtui.core.lifecycle.signing import default_signing_key
    from kmodtui.core.lifecycle.updates import (
        check_update,
        installed_out_of_tree_modules,
        kernel_reference,
        with_signatures,
    )
    from kmodtui.core.report import contract
    from kmodtui.core.report.secureboot import signature_check_lines, signature_line
    from kmodtui.core.secureboot import read_cert
    from kmodtui.core.secureboot.update import check_signatures

    kernel = kernel_from_spec(args.new_kernel)
    modules = args.modules or installed_out_of_tree_modules()
    if not modules:
        raise KmodError(f"/lib/modules/{os.uname().release}", "has no out-of-tree modules (updates/, extra/) to "
                                                              "check; name them with --modules")
    reference = kernel_reference(kernel, args.reference)
    result, verdicts = check_update(modules, kernel, reference)
    # the Secure Boot doctor's verdict for each module, by the new kernel's config and this machine's boot facts
    signatures = check_signatures([v.module for v in verdicts], kernel.release, args.boot_state,
                                  read_cert(default_signing_key()[1]), kernel.build_dir)
    verdicts = with_signatures(verdicts, signatures)
    range_reason = out_of_range(kernel.release, detect_source(args.source)) if args.source else ""
    loads = all(v.loads for v in verdicts) and not range_reason
    if args.json:
        print_json(contract.check_update_payload(kernel, verdicts, reference, args.source, range_reason, signatures))
    else:
        say(f"Will these modules load on {kernel.release}?")
        for v in verdicts:
            shown = ["its signature (below)" if r.startswith("its signature:") else r for r in v.reasons[:3]]
            verdict = "yes" if v.loads else f"NO ({v.problems} problem(s): {'; '.join(shown)})"
            say(f"  {os.path.basename(v.module):32} {verdict}")
            if v.module in signatures.verdicts:
                say(signature_line(signatures.verdicts[v.module]))
            elif v.module in signatures.unreadable:
                say(f"    signature: UNKNOWN: {signatures.unreadable[v.module]}")
        for line in signature_check_lines(signatures, kernel.release):
            say(line)
        if reference is not None:
            say(f"  (struct module size and vermagic compared with {reference.path}: "
                  f"{reference.struct_module_size} bytes, '{reference.vermagic}')")
        else:
            say(f"  (struct module size and vermagic not compared: no module built for {kernel.release} is here; "
                  "name one with --reference, e.g. from its linux-image package)")
        if range_reason:
            say(f"  The source {args.source} does not support {kernel.release}: {range_reason}.")
        # a symbol nothing provides is usually another out-of-tree module left out, not the kernel
        unprovided = sorted({r.split(" ", 1)[1] for v in verdicts for r in v.reasons
                             if r.startswith("unknown_symbol ")})
        if unprovided:
            say(f"  Nothing here provides {', '.join(unprovided[:5])}{' ...' if len(unprovided) > 5 else ''}: "
                  f"neither {kernel.release} nor the modules given. If another out-of-tree module exports them "
                  "(a provider such as zfs for lustre), name it too with --modules; rebuilding alone will not help.")
        if not loads and any(r and not r.startswith(("unknown_symbol ", "its signature:")) for v in verdicts for r in v.reasons):
            say("Rebuild the modules for the new kernel before rebooting into it "
                  f"(kmodtui build --kernel {kernel.release} --source DIR), or keep the old kernel as default.")
    return EXIT_OK if loads else EXIT_PROBLEMS


def cmd_sign(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.lifecycle.signing import ensure_signing_key, make_signing_key, sign_modules
    from kmodtui.core.report import contract

    modules = args.modules
    first = read_module(modules[0])
    kernel = kernel_from_spec(args.kernel or (first.vermagic.split()[0] if first.vermagic else os.uname().release))
    key, cert = args.key, args.cert
    if args.new_key:
        key, cert = make_signing_key(args.new_key)
    elif bool(key) != bool(cert):
        raise KmodError(key or cert, "--key and --cert go together: name both, or neither for kmodtui's own key pair")
    elif not key:  # kmodtui's own pair, made on first use: the one `build --sign` and the TUI's s use
        key, cert = ensure_signing_key()
    sign_modules(modules, kernel, key, cert)
    checked = [read_module(m) for m in modules]
    if args.json:
        print_json(contract.signed_payload(checked, key, cert))
    else:
        for m in checked:
            say(f"signed {m.path} ({m.signature.id_type if m.signature else 'NOT signed'})")
        say("On a Secure Boot machine, trust the key once: sudo mokutil --import " + cert +
              " (then reboot and enroll it in the blue MOK manager screen).")
    return EXIT_OK


def cmd_check_userspace(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.lifecycle.versions import check_userspace
    from kmodtui.core.model import is_package_path
    from kmodtui.core.packages.read import read_package
    from kmodtui.core.report import contract

    def version_of(path: str, module: bool) -> tuple[str, str]:
        if is_package_path(path):
            package = read_package(path)
            version = package.version + (f"-{package.release}" if package.release else "")
            if module and package.modules:
                return (dict(package.modules[0].modinfo).get("version") or version), package.name
            return version, package.name
        image = read_module(path)
        return dict(image.modinfo).get("version", ""), image.name

    module_version, module_label = version_of(args.module, True)
    tools_version, tools_label = version_of(args.tools, False)
    lock = check_userspace(module_version, module_label, tools_version, tools_label)
    if args.json:
        print_json(contract.userspace_payload(lock))
    else:
        say(("OK: " if lock.matches else "MISMATCH: ") + lock.explanation)
    return EXIT_OK if lock.matches else EXIT_PROBLEMS


def _verb_check_update(sub: Any) -> None:
    p = sub.add_parser("check-update", help="will these out-of-tree modules load on a new kernel?")
    p.add_argument("--new-kernel", required=True, help="release, build dir, symvers file, or headers .deb/.rpm")
    p.add_argument("--modules", nargs="+", help="modules or folders (default: updates/ and extra/ of the running kernel)")
    p.add_argument("--reference", metavar="MODULE", help="a module built for the new kernel (file or folder) to compare "
                   "struct module size and vermagic with (default: the new kernel's own tree, when it is here)")
    p.add_argument("--source", metavar="DIR", help="the module source: is the new kernel inside the range it declares "
                   "(META Linux-Minimum/-Maximum, dkms.conf BUILD_EXCLUSIVE_KERNEL)?")
    p.add_argument("--boot-state", default="/", metavar="DIR", help="judge the modules' signatures by the boot "
                   "state recorded in DIR (as `secureboot --root`) instead of this machine's")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_check_update, inputs={"new_kernel": "kernel", "modules": "target",
                                               "reference": "target", "source": "source", "boot_state": "folder"})


def _verb_sign(sub: Any) -> None:
    p = sub.add_parser("sign", help="sign modules for Secure Boot with the kernel's sign-file")
    p.add_argument("modules", nargs="+", metavar="MODULE.ko", help="the modules to sign, in place")
    p.add_argument("--key", help="private key (default: the key pair kmodtui made, made now if missing)")
    p.add_argument("--cert", help="certificate that goes with --key (DER or PEM)")
    p.add_argument("--new-key", metavar="DIR", help="make a new MOK key pair in DIR and sign with it")
    p.add_argument("--kernel", help="whose sign-file to use (default: the modules' vermagic)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_sign, inputs={"modules": "module", "new_key": "new-folder", "kernel": "kernel"})


def _verb_check_userspace(sub: Any) -> None:
    p = sub.add_parser("check-userspace", help="do the module and its userspace tools come from the same release?")
    p.add_argument("--module", required=True, help="the module (.ko) or its package")
    p.add_argument("--tools", required=True, help="the userspace tools' package (.deb/.rpm)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_check_userspace, inputs={"module": "module-or-package", "tools": "module-or-package"})

