"""Where a build leads once it is done: the symbol check, signing, the hook, the remedies. The build
screen's keys for them (kmodtui/screens/build.py); each opens its screen, or says why not yet."""

from __future__ import annotations

import os

from textual import on, work
from textual.reactive import var
from textual.screen import Screen
from textual.worker import get_current_worker

from kmodtui.core.build import record as buildrecord
from kmodtui.core.build.logscan import LogFinding
from kmodtui.core.model import Kernel
from kmodtui.messages import BuildFinished, BuildKernelRead


class BuildNextSteps(Screen[None]):
    """BuildScreen's base: what it shows of the build (`status`, `findings`) opens the next screens."""

    state: var[str] = var("", init=False)  # as the build's record says ("died" when its runner is gone)
    finished: var[bool] = var(False, init=False, bindings=True)  # the footer's keys change when the build is over
    record_dir: str
    status: dict
    findings: list[LogFinding]

    def action_symbols(self) -> None:
        if not self.finished:
            self.notify("The build is still running.")
            return
        from kmodtui.core.build.recheck import built_targets

        # what the check reads: the modules, or a package build's packages (OpenZFS's `make rpm-kmod`
        # leaves no loose .ko, only the kmod RPMs)
        if not built_targets(str(self.status.get("mode", "")), [str(a) for a in self.status.get("artifacts") or []]):
            self.notify("No module was built: nothing to check. Press e for the first error.", severity="warning")
            return
        self.post_message(BuildFinished(self.record_dir, self.status, open_symbols=True))

    def built_modules(self) -> list[str]:
        return [a for a in self.status.get("artifacts") or [] if a.endswith(".ko")]

    @work(thread=True, exclusive=True, group="build-kernel")
    def read_built_kernel(self, then: str) -> None:
        """The kernel this build was for, as its stored request names it (None: gone since), for the
        screen `then` opens. Asking may take a while: a `debian:` kernel is looked up in the archive."""
        from kmodtui.core.build.request import load_request
        from kmodtui.core.errors import KmodError

        try:
            kernel: Kernel | None = load_request(self.record_dir).kernel
        except KmodError:  # a kernel that vanished since the build, or a record without a request
            kernel = None
        if not get_current_worker().is_cancelled:  # a second key press asked again: one screen opens
            self.post_message(BuildKernelRead(kernel, then))

    @on(BuildKernelRead)
    def kernel_read(self, message: BuildKernelRead) -> None:
        if message.then == "sign":
            self._open_sign(message.kernel)
        else:
            self._open_remedy(message.kernel)

    def action_sign(self) -> None:
        from kmodtui.core.build import modes

        if self.finished and self.state != buildrecord.SUCCEEDED:  # the palette may still ask
            self.notify(f"The build did not succeed ({self.state}): nothing of it is signed. Fix it first "
                        "(e jumps to the first error), then sign what the next build makes.", severity="warning")
            return
        built_as = modes.find(self.status.get("mode"))
        if self.finished and built_as is not None and built_as.signs_before_packaging:
            # a package: signing the loose .ko would leave the packaged one unsigned; build it again signed
            from kmodtui.messages import RebuildRequested
            from kmodtui.screens.nav import ConfirmScreen

            def answered(yes: bool | None) -> None:
                if yes:
                    self.post_message(RebuildRequested(self.record_dir, sign_modules=True))

            self.app.push_screen(ConfirmScreen("Build this package again with every module signed (kmodtui's key, "
                                               "made on first use) before it is packaged?"), answered)
            return
        if not self.finished or not self.built_modules():
            self._open_sign(None)
            return
        self.read_built_kernel("sign")

    def _open_sign(self, kernel: Kernel | None) -> None:
        from kmodtui.screens.sign import SignScreen

        modules = self.built_modules()
        if not self.finished or not modules or kernel is None:
            self.notify("Nothing to sign yet: wait for the build to finish with a module.", severity="warning")
            return
        self.app.push_screen(SignScreen(modules, kernel))

    def action_hook(self) -> None:
        from kmodtui.screens.hook import HookScreen

        if not self.status.get("artifacts"):
            self.notify("Set up a hook once the source builds: press e for the first error.", severity="warning")
            return
        self.app.push_screen(HookScreen(self.status.get("source", ""), self.status.get("mode", "kbuild")))

    def action_remedy(self) -> None:
        if not any(f.all_remedies() and f.severity == "error" for f in self.findings):
            self.notify("No finding with a remedy (yet).")
            return
        self.read_built_kernel("remedy")

    def _open_remedy(self, kernel: Kernel | None) -> None:
        """The remedies for the first error that has some; `kernel` None: they can still be previewed."""
        from kmodtui.screens.remedy import RemedyContext, RemedyScreen

        finding = [f for f in self.findings if f.all_remedies() and f.severity == "error"][0]
        source = self.status.get("source", "")
        # what was broken before the remedy, for the re-check's fixed / still broken summary
        before = frozenset((os.path.basename(f.detail("module")), f.detail("symbol")) for f in self.findings
                           if f.severity == "error" and f.detail("symbol"))
        self.app.push_screen(RemedyScreen(RemedyContext(
            finding.all_remedies(), symbol=finding.detail("symbol"), namespace=finding.detail("ns"),
            change=finding.detail("api_change"), target=source, kernel=kernel, source=source, record=self.record_dir, problems_before=before)))
