"""Step 1 of the wizard: pick the kernel build tree to build and check modules against."""

from __future__ import annotations

import os

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from kmodtui.core.kernels.discover import discover_kernels
from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data
from kmodtui.messages import FollowedRead, KernelChosen, KernelsFound, Notice, ResolveDone, UpdateCheckEmpty
from kmodtui.screens.nav import escape
from kmodtui.widgets.steps import StepStrip

NEWCOMER_NOTE = (
    "[b]What is this?[/] A kernel build tree (the kernel's [i]headers[/]) is what kbuild "
    "compiles a module against. A module only loads into the kernel it was built for: the "
    "[i]vermagic[/] string and, with MODVERSIONS, a CRC per kernel symbol must match."
)


def demo_root() -> str:
    return package_data("data", "demo", "root")


def install_hint() -> str:
    release = os.uname().release
    return (
        "No kernel build trees were found on this machine.\n\n"
        "Install the headers for your kernel:\n"
        f"  Debian/Ubuntu: [b]sudo apt-get install linux-headers-{release}[/]\n"
        f"  Fedora/RHEL:   [b]sudo dnf install kernel-devel-{release}[/]\n\n"
        "or press [b]d[/] to open the demo (bundled real modules and a trimmed kernel tree)."
    )


def symvers_words(kernel: Kernel) -> str:
    """Where Module.symvers is: in the build dir (said so, not a second long path that a narrow pane
    folds mid-name), elsewhere on a line of its own (/boot/symvers-<rel>.gz), or missing."""
    path = kernel.symvers_path
    if not path:
        return "[b]missing[/]"
    if kernel.build_dir and os.path.dirname(path) == kernel.build_dir.rstrip("/"):
        return "in the build dir" if os.path.basename(path) == "Module.symvers" else \
            f"{escape(os.path.basename(path))} in the build dir"
    return "\n  " + escape(path)


def kernel_details(kernel: Kernel) -> str:
    def yn(value: bool | None) -> str:
        return "unknown" if value is None else ("yes" if value else "no")

    lines = [f"[b]{escape(kernel.release)}[/]", ""]  # a tree's facts: from a board image or a package too
    lines.append(escape(f"Architecture  {kernel.arch or 'unknown'} (ARCH={kernel.kbuild_arch or '?'})"))
    lines.append(escape(f"Flavor        {kernel.flavor or 'none'}"))
    lines.append(escape(f"Found         {kernel.origin}"))
    if kernel.origin == "demo":
        lines.append("Build dir     (the demo's trimmed copy, bundled with kmodtui)")
        lines.append("Symvers       (the rows the demo modules need)")
    else:
        lines.append(escape(f"Build dir     {kernel.build_dir}"))
        lines.append(f"Symvers       {symvers_words(kernel)}")
    lines.append(f"MODVERSIONS   {yn(kernel.modversions)}")
    lines.append(f"Signing       {yn(kernel.module_sig)}" + (" (enforced)" if kernel.module_sig_force else ""))
    lines.append(escape(f"Compression   {kernel.module_compression or 'unknown'}"))
    lines.append(escape(f"Built with    {kernel.compiler or 'unknown'}"))
    if kernel.origin == "demo":
        lines.append("Here          (not compared: the demo tree is for exploring, not building)")
    elif not kernel.host_compiler:
        lines.append(f"[b]Compiler {escape(kernel.compiler_command or 'gcc')} is not installed here:[/] install it to build.")
    elif not kernel.compiler_matches:
        lines.append(f"[b]Here:[/]         {escape(kernel.host_compiler)} [b](differs: modules may not build or load)[/]")
    else:
        lines.append("Here          the same compiler (good)")
    for note in kernel.notes:
        lines.append(escape(f"Note          {note}"))
    lines += ["", "[b]Why these matter[/]"]
    if kernel.flavor:
        lines.append(f"[i]Flavor[/] '{escape(kernel.flavor)}' is the build variant; a module built for one flavor does not load into another.")
    if kernel.modversions:
        lines.append("[i]MODVERSIONS[/] is on: every kernel symbol a module uses carries a CRC, and the "
                     "loader refuses a module whose CRCs differ from this kernel's.")
    if kernel.module_sig:
        lines.append("[i]Module signing[/] is on: with Secure Boot an unsigned module is rejected "
                     "('Key was rejected by service'); sign it or enroll a key with mokutil.")
    if kernel.origin == "demo":
        lines.append("[i]Demo tree[/]: a trimmed copy for exploring; you cannot build against it.")
    return "\n".join(lines)


class KernelScreen(Screen[None]):
    """Lists every build tree the core found, with what each one means for a module."""

    HELP_TEXT = """Pick the kernel to build modules for and check them against. Each row is a kernel build tree
(its [i]headers[/]) that kmodtui found: installed ones under /lib/modules, and the demo.
The pane on the right says what the tree can do: whether it has Module.symvers (needed to check
CRCs), which compiler built the kernel, and the flavor.

No tree for your kernel? Install the headers: linux-headers-<release> on Debian/Ubuntu,
kernel-devel on Fedora/RHEL, then press r.
[b]u[/] checks whether the out-of-tree modules installed now would load on the chosen kernel,
before you reboot into it. [b]b[/] lists builds (also the ones still running in the background).
[b]l[/] names the root cause of a failure log you already have (a dkms make.log, apt output, a
yum ksym error, dmesg lines): type its path or paste it.
[b]d[/] opens the demo (bundled real modules and a trimmed kernel tree); on the demo, [b]d[/] or Esc goes
back to the kernels installed here."""
    FIRST_STEP = True  # Esc goes no further back than this (kmodtui/screens/nav.py)
    CSS_PATH = "kernel.tcss"
    BINDINGS = [
        Binding("enter", "choose", "Use this kernel", id="kernel.choose"),
        Binding("d", "demo", "Demo", id="kernel.demo"),
        Binding("d", "real_kernels", "Real kernels", id="kernel.real"),  # on the demo picker: the way back
        Binding("escape", "real_kernels", "Real kernels", show=False, id="kernel.real_back"),
        Binding("r", "refresh", "Rescan", id="kernel.refresh"),
        Binding("b", "builds", "Builds", id="kernel.builds"),
        # the footer's words are short (80 columns); the palette and the help say the tooltip's
        Binding("u", "update_check", "Check update", id="kernel.update_check"),
        Binding("l", "diagnose", "Log", tooltip="Diagnose a log", id="kernel.diagnose"),
    ]

    def __init__(self, *, demo: bool = False, root: str = "/") -> None:
        super().__init__()
        self.demo = demo
        self.root = root
        self.kernels: list[Kernel] = []

    def compose(self) -> ComposeResult:
        yield StepStrip("Kernel", demo=self.demo)
        with Horizontal(id="kernel-body"):
            yield OptionList(id="kernel-list")
            with VerticalScroll(id="kernel-details-scroll"):
                yield Static("Looking for kernel build trees...", id="kernel-details")
        yield Static(NEWCOMER_NOTE, id="kernel-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#kernel-list", OptionList).border_title = "Kernels"
        self.query_one("#kernel-details-scroll").border_title = "Details"
        self.scan()
        if not self.demo:
            self.read_followed()

    @work(thread=True, exclusive=True, group="kernel-follow")
    def read_followed(self) -> None:
        from kmodtui.core.lifecycle.follow import follow_overview
        from kmodtui.core.remedies.gate import gate_json, read_state

        self.post_message(FollowedRead(follow_overview(), gate_json(read_state(self.root))))

    @on(FollowedRead)
    def show_follow(self, message: FollowedRead) -> None:
        """Boards kmodtui follows (kmodtui follow): which kernels have their module, which wait, which
        failed and why; in place of the newcomer's note, once there is something to follow."""
        import time

        message.stop()
        targets = message.targets
        lines = []
        gate = message.gate or {}
        if gate.get("engaged"):  # a kernel whose modules did not build is kept out of the next boot
            lines.append(f"[b]Kernel gate:[/] {escape(gate['held_on'])} boots next, not {escape(gate['new_kernel'])}: "
                         f"{escape(', '.join(str(r.get('name')) for r in gate.get('reasons', [])))} not ready (kmodtui gate)")
        elif gate.get("message") and time.time() - (gate.get("lifted") or time.time()) < 3 * 86400:
            lines.append(f"[b]Kernel gate:[/] {escape(gate['message'])}")
        if not targets and not lines:
            return
        lines += ["[b]Following[/] (kmodtui follow: boards get kernel and module together)"] if targets else []
        for t in targets[:3]:
            age = int((time.time() - t["last_check"]) / 60) if t["last_check"] else None
            when = f"{age} min ago" if age is not None and age < 120 else (
                f"{age // 60} h ago" if age is not None else "never")
            result = {"published": "module published for", "up-to-date": "covers", "build-failed":
                      f"build FAILED ({t['cause'] or 'see the state'}) for", "archive-unreachable":
                      "archive unreachable; last known"}.get(t["last_result"], t["last_result"])
            lines.append(f"  {escape(t['target'])}: {result} {escape(t['last_kernel'])} "
                         f"({len(t['covered'])} kernel(s) covered, checked {when})")
            if (t.get("gate") or {}).get("engaged"):
                lines.append(f"    held on {escape(t['gate']['held_on'])} (the metapackage's Breaks)")
        self.query_one("#kernel-note", Static).update("\n".join(lines))

    @work(thread=True, exclusive=True, group="kernel-scan")
    def scan(self) -> None:
        from kmodtui.core.choices import load_choices

        if self.demo:
            kernels = discover_kernels(demo_root(), origin="demo")
        else:
            kernels = discover_kernels(self.root)
        self.post_message(KernelsFound(kernels, last=load_choices().get("kernel", "")))

    @on(KernelsFound)
    def show_kernels(self, message: KernelsFound) -> None:
        message.stop()
        self.kernels = message.kernels
        option_list = self.query_one("#kernel-list", OptionList)
        option_list.clear_options()
        # Grouped by version, one entry per flavor (amd64, cloud-amd64, rt-amd64; el9.x86_64, +debug)
        group = None
        for index, kernel in enumerate(self.kernels):
            base = kernel.release[: -len(kernel.flavor)].rstrip("-.+") if kernel.flavor else kernel.release
            if base != group:
                group = base
                option_list.add_option(Option(f"[b]{escape(base)}[/]", disabled=True))
            option_list.add_option(Option(escape(f"  {kernel.flavor or '(no flavor)'}  {kernel.arch or '?'}\n"
                                                 f"    {kernel.origin}"), id=str(index)))
        details = self.query_one("#kernel-details", Static)
        if not self.kernels:
            details.update(install_hint())
            return
        releases = [k.release for k in self.kernels]
        index = releases.index(message.last) if message.last in releases else 0
        option_list.highlighted = option_list.get_option_index(str(index))
        option_list.focus()
        details.update(kernel_details(self.kernels[index]))

    @on(OptionList.OptionHighlighted, "#kernel-list")
    def show_details(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id is not None:
            self.query_one("#kernel-details", Static).update(kernel_details(self.kernels[int(event.option_id)]))

    @on(OptionList.OptionSelected, "#kernel-list")
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.action_choose()

    def highlighted_kernel(self) -> Kernel | None:
        option_list = self.query_one("#kernel-list", OptionList)
        highlighted = option_list.highlighted
        if highlighted is None or not self.kernels:
            self.notify("No kernel to choose yet: install headers or press d for the demo.", severity="warning")
            return None
        option_id = option_list.get_option_at_index(highlighted).id
        return None if option_id is None else self.kernels[int(option_id)]

    def action_choose(self) -> None:
        kernel = self.highlighted_kernel()
        if kernel is not None:
            self.post_message(KernelChosen(kernel))

    def action_update_check(self) -> None:
        """Before rebooting into this kernel: will the out-of-tree modules installed now load on it?"""
        kernel = self.highlighted_kernel()
        if kernel is not None:
            self.notify(f"Checking the installed out-of-tree modules against {escape(kernel.release)}...", timeout=3)
            self.update_check(kernel)

    @work(thread=True, exclusive=True, group="update-check")
    def update_check(self, kernel: Kernel) -> None:
        from kmodtui.core.errors import KmodError
        from kmodtui.core.lifecycle.signing import default_signing_key
        from kmodtui.core.lifecycle.updates import (
            check_update,
            installed_out_of_tree_modules,
            with_signatures,
        )
        from kmodtui.core.secureboot import read_cert
        from kmodtui.core.secureboot.update import check_signatures
        running = os.uname().release
        if self.demo:
            modules, where = [package_data("data", "demo", "modules")], "the demo's modules"
        else:
            modules, where = installed_out_of_tree_modules(root=self.root), f"the modules installed for {running}"
        if not modules:
            self.post_message(UpdateCheckEmpty(kernel, running))
            return
        try:
            result, verdicts = check_update(modules, kernel)
            # the Secure Boot doctor's verdict too, as `kmodtui check-update` asks it (the demo's kernel is not here)
            signatures = None if self.demo else check_signatures(
                [v.module for v in verdicts], kernel.release, own=read_cert(default_signing_key()[1]),
                build_dir=kernel.build_dir)
        except KmodError as err:
            self.post_message(Notice(str(err), "error", 10))
            return
        if signatures is not None:
            verdicts = with_signatures(verdicts, signatures)
        broken = sum(1 for v in verdicts if not v.loads)
        verdict = (f"all {len(verdicts)} load" if not broken else
                   f"{broken} of {len(verdicts)} would not load (rebuild them for it before rebooting)")
        # what the loader checks besides symbols (struct module size, vermagic) is not a symbol row
        beyond = [f"{os.path.basename(v.module)}: {reason}" for v in verdicts for reason in v.reasons
                  if reason.startswith(("struct module", "its vermagic", "it has no .gnu", "its signature:"))]
        context = f"Update check, {where} on {kernel.release}: {verdict};" + "".join(f" {b};" for b in beyond[:2])
        self.post_message(ResolveDone(result, demo=self.demo, context=context))

    @on(UpdateCheckEmpty)
    def nothing_to_check(self, message: UpdateCheckEmpty) -> None:
        """Nothing installed for the running kernel: a notice, and the note under the list says it
        to stay, with whether the running kernel has a build tree here (no headers: nothing can be
        built for it either)."""
        message.stop()
        running, kernel = message.running, message.kernel
        headers = "" if any(k.release == running for k in self.kernels) or self.demo else (
            f" It has no headers here either (no build tree for it in this list): install "
            f"linux-headers-{running} (or kernel-devel-{running}), then press r.")
        self.notify(escape(f"No out-of-tree modules are installed for the running kernel ({running}): the note "
                           f"below says more; kmodtui check-update --new-kernel {kernel.release} --modules FILE "
                           "checks others."), severity="warning", timeout=8)
        note = self.query_one("#kernel-note", Static)
        note.add_class("-update-check")
        note.update(f"[b]Check update:[/] u asks whether the modules installed for the running kernel "
                    f"({escape(running)}) would load on {escape(kernel.release)}. [b]None are installed[/] "
                    f"(in /lib/modules/{escape(running)}/updates or extra).{escape(headers)}\n"
                    f"Other modules: kmodtui check-update --new-kernel {escape(kernel.release)} --modules FILE...")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """d opens the demo from the real kernels, and leads back from the demo (never a trap)."""
        if action == "demo":
            return not self.demo
        if action == "real_kernels":
            return self.demo
        return True

    def action_demo(self) -> None:
        if not self.demo:
            self.app.switch_screen(KernelScreen(demo=True, root=self.root))

    def action_real_kernels(self) -> None:
        if self.demo:
            self.app.switch_screen(KernelScreen(root=self.root))

    def action_refresh(self) -> None:
        self.query_one("#kernel-details", Static).update("Looking for kernel build trees...")
        self.scan()

    def action_diagnose(self) -> None:
        from kmodtui.screens.diagnose import DiagnoseScreen

        self.app.push_screen(DiagnoseScreen())

    def action_builds(self) -> None:
        from kmodtui.screens.builds import BuildsScreen

        self.app.push_screen(BuildsScreen())

