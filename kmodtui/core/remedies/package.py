"""The remedies for an installed system: a binary-module .deb's Depends rewritten to the package
that owns the kernel, and the command that installs a kernel's headers."""

from __future__ import annotations

import os
import re

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.edits import FileEdit, check_editable
from kmodtui.core.remedies.plans import SAFE, RemedyOptions, RemedyPlan, read_file


def plan_deb_fix_depends(options: RemedyOptions) -> RemedyPlan:
    from kmodtui.core.packages.debrewrite import (
        read_control,
        rewrite_control,
        set_control_field,
    )

    path = options.target
    if not path.endswith(".deb"):
        raise KmodError(path, "is not a .deb")
    if not options.depends:
        raise KmodError(path, "which package should it depend on? Pass --depends (kmodtui resolve names the "
                              "package that owns the kernel)")
    check_editable(path)
    before = read_file(path)
    control = read_control(before, path)
    # one field's value: a line break would add fields (a Pre-Depends, a second paragraph) of its own
    new_control = set_control_field(control, "Depends", scriptnames.one_line(options.depends, "--depends", "Depends"))
    after = rewrite_control(before, path, new_control)
    import difflib
    shown = "".join(difflib.unified_diff(control.splitlines(keepends=True), new_control.splitlines(keepends=True),
                                         f"a/{path}:DEBIAN/control", f"b/{path}:DEBIAN/control"))
    shown += "(data.tar.* is kept byte for byte)\n"
    return RemedyPlan(
        "deb-fix-depends", f"Depend on {options.depends} instead", SAFE,
        "The binary-module .deb depends on a package name no installed package has (dkms mkbmdeb writes "
        "linux-image-<release>). Rewriting its Depends to the package that really owns the kernel lets dpkg "
        "configure it; the modules inside are untouched.",
        (FileEdit(path, before, after),), (f"sudo dpkg -i {scriptnames.shell(path)}",), shown_diff=shown,
    )


def plan_install_headers(options: RemedyOptions) -> RemedyPlan:
    release = scriptnames.check(scriptnames.KERNEL_RELEASE, options.kernel_release or os.uname().release, "--kernel")
    distro = ""
    try:
        with open("/etc/os-release") as f:
            distro = f.read()
    except OSError:
        pass
    if re.search(r"^ID(_LIKE)?=.*(fedora|rhel|centos)", distro, re.M):
        command = f"sudo dnf install kernel-devel-{release}"
    elif re.search(r"^ID(_LIKE)?=.*(debian|ubuntu)", distro, re.M):
        command = f"sudo apt-get install linux-headers-{release}"
    else:
        command = f"install the headers of {release} (linux-headers-{release} / kernel-devel-{release})"
    return RemedyPlan("install-headers", f"Install the headers of {release}", SAFE,
                      "Building needs the kernel's build tree (its headers, .config and Module.symvers).",
                      (), (command,))

