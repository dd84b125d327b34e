"""dkms mode: real dkms 3 (add + build) with private trees, as the module would be rebuilt on every
kernel update; nothing under /var/lib/dkms or /usr/src is touched."""

from __future__ import annotations

import glob
import os

from kmodtui.core.build.inputs import DKMS_MKCONF, KIND_AUTOTOOLS, KIND_DKMS, ModuleSource
from kmodtui.core.build.modes._base import Mode, Planning
from kmodtui.core.build.modes._dkms import dkms_variables
from kmodtui.core.build.modes._steps import autotools_checks
from kmodtui.core.build.step import BuildStep
from kmodtui.core.errors import KmodError
from kmodtui.core.packages.compressmod import suffix_for
from kmodtui.core.trees import find


class DkmsMode(Mode):
    name = label = "dkms"
    rank = 30
    programs = ("dkms", "make", "gcc")
    story = ("Real dkms (add + build) with private trees, the way the module would be rebuilt on every kernel "
             "update. dkms 3 signs with its own MOK key; its build dir is deleted after the build.")
    tree_story = ("The tree's scripts/dkms.mkconf writes the dkms.conf its dkms packages ship, then real dkms (add + build) "
                  "with private trees.")

    def listed_for(self, source: ModuleSource) -> bool:
        # a release tree's scripts/dkms.mkconf writes the dkms.conf (OpenZFS)
        return KIND_DKMS in source.kinds or (KIND_AUTOTOOLS in source.kinds and bool(source.modules) and
                                             os.path.isfile(os.path.join(source.path, *DKMS_MKCONF)))

    def steps(self, planning: Planning) -> list[BuildStep]:
        request, source = planning.request, planning.source
        if planning.autotools:
            autotools_checks(planning)
            if not os.path.isfile(os.path.join(source.path, *DKMS_MKCONF)):
                raise KmodError(request.source, "dkms mode needs a dkms.conf, or the scripts/dkms.mkconf that makes "
                                                "one (OpenZFS's); this tree has neither")
        elif source.dkms is None:
            raise KmodError(request.source, "dkms mode needs a dkms.conf in the source")
        else:
            from kmodtui.core.build.dkmsread import read_for_installed

            verdict = read_for_installed(source.dkms).verdict  # dkms add would stop there, saying why
            if verdict:
                raise KmodError(source.dkms.path, verdict)
        return dkms_steps(planning)

    def artifacts(self, work_dir: str, src_dir: str, out_dir: str, source: ModuleSource) -> list[str]:
        return super().artifacts(work_dir, src_dir, out_dir, source) + \
            sorted(find(os.path.join(work_dir, "dkms", "tree"), "*.ko*"))

    def failure_logs(self, work_dir: str) -> list[tuple[str, str]]:
        """dkms 3.0 only says "Consult .../make.log": the compiler's own errors are in that file."""
        logs = sorted(glob.glob(os.path.join(work_dir, "dkms", "tree", "*", "*", "build", "make.log")))
        return [("dkms make.log", log) for log in logs[:1]]


def dkms_steps(planning: Planning) -> list[BuildStep]:
    """dkms add and build, with --dkmstree, --sourcetree and --installtree in the build's folder."""
    request, source, work_dir, version = planning.request, planning.source, planning.work_dir, planning.version
    trees = {name: os.path.join(work_dir, "dkms", name) for name in ("tree", "source", "install")}
    for tree in trees.values():
        planning.make_dir(tree)
    source_copy = os.path.join(trees["source"], f"{source.name}-{version}")
    planning.copy_tree(source.path, source_copy)
    common = ["dkms", "--dkmstree", trees["tree"], "--sourcetree", trees["source"], "--installtree", trees["install"]]
    mkconf: list[BuildStep] = []
    if source.dkms is None:  # a release tree: its own script writes the dkms.conf, as zfs-dkms's packaging does
        mkconf.append(BuildStep("dkms.mkconf", ("sh", os.path.join(*DKMS_MKCONF), "-n", source.name, "-v", version,
                                                "-f", "dkms.conf"), source_copy))
    suffix = suffix_for(request.kernel.module_compression)
    if suffix:
        # dkms compresses a built module when it finds *.ko<suffix> in the install tree's
        # <release>/ (in /lib/modules, the kernel's own); the private tree gets one empty marker
        kernel_tree = os.path.join(trees["install"], request.kernel.release, "kernel")
        planning.make_dir(kernel_tree)
        planning.write_file(os.path.join(kernel_tree, f"kmodtui-compression-marker.ko{suffix}"), "")
    # the tree by the name dkms itself gives it (/lib/modules/<release>/build) when that is where it
    # is: dkms.conf files derive paths from it (zfs-dkms: ${kernel_source_dir/%build/source})
    kernel_dir = dkms_variables(request, source, os.path.join(work_dir, "x", "y", "z", "build"))["kernel_source_dir"]
    build = [*common, "build", "-m", source.name, "-v", version, "-k", request.kernel.release,
             "--kernelsourcedir", kernel_dir]
    if request.arch:
        build += ["-a", request.arch]
    # dkms reads sign_file from the environment before its framework.conf; a path that does not
    # exist makes it skip signing (and skip creating a MOK key pair under /var/lib/dkms). dkms runs
    # confined, where its key is hidden: it never signs there; the sign step, outside, signs what it
    # built with dkms's own key, as dkms would have.
    env = (("sign_file", "/nonexistent/kmodtui-no-signing"),)
    return [
        *mkconf,
        BuildStep("dkms add", (*common, "add", "-m", source.name, "-v", version), work_dir, env),
        BuildStep("dkms build", tuple(build), work_dir, env),
        *dkms_sign_steps(planning, trees["tree"]),
    ]


DKMS_KEY = ("/var/lib/dkms/mok.key", "/var/lib/dkms/mok.pub")  # dkms 3's default mok_signing_key, mok_certificate


def dkms_sign_steps(planning: Planning, tree: str) -> list[BuildStep]:
    """dkms 3 signs what it builds with its MOK; here outside the sandbox, where that key is."""
    from kmodtui.core.build import signing
    from kmodtui.core.build.modes._steps import SIGN_OUTSIDE, run_module

    if not planning.request.sign or suffix_for(planning.kernel.module_compression):
        return []  # a compressing kernel: dkms compressed them inside (signing a .ko.xz is not sign-file's)
    return [BuildStep("sign", run_module(signing, "--build-dir", planning.kernel.build_dir, "--key", DKMS_KEY[0],
                                         "--cert", DKMS_KEY[1], "--make-key", "--inside", planning.work_dir,
                                         "--find", tree),
                      planning.work_dir, shown="sign as dkms would, with its MOK (/var/lib/dkms)", outside=SIGN_OUTSIDE)]


MODES = (DkmsMode(),)
