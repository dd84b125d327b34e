"""The App's workers: the core's work off the event loop, each ending with a message (kmodtui/messages.py).
A worker only reads what it was given and posts; the App's state changes in its message handlers
(kmodtui/app.py), on the event loop."""

from __future__ import annotations

import os
import shutil
import threading
from typing import TYPE_CHECKING

from textual import work
from textual.app import App

from kmodtui.core.choices import remember
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data, state_dir
from kmodtui.messages import BuildStarted, Notice, ResolveDone, RunningBuilds

if TYPE_CHECKING:
    from kmodtui.core.build.recheck import PackageSet

_CHOICES = threading.Lock()  # choices.json is read, changed and written whole: one worker at a time


def running_among(records: list[str]) -> list[str]:
    """Those of these builds (record dirs) that are still running: reads each record."""
    from kmodtui.core.build import record as buildrecord

    running = []
    for record in dict.fromkeys(records):
        status = buildrecord.read_status(record)
        if status and buildrecord.effective_state(status) == buildrecord.RUNNING:
            running.append(record)
    return running


class CoreWorkers(App[int]):
    """KmodApp's base: its thread workers, which call the core and post what they found."""

    @work(thread=True, group="choices")
    def remember_choice(self, key: str, value: str) -> None:
        with _CHOICES:
            remember(key, value)

    @work(thread=True, group="build-start")
    def start_build(self, source: str, kernel: str, mode: str) -> None:
        """Start the wizard's build, detached (its record made, the runner started); remember the mode."""
        from kmodtui.core.build.job import start_detached

        with _CHOICES:
            remember(f"mode:{source}", mode)
        try:
            records = start_detached(source, [kernel], mode)
        except KmodError as err:
            self.post_message(Notice(f"Cannot start the build: {err}", "error", 12))
            return
        self.post_message(BuildStarted(records[0]))

    @work(thread=True, group="build-start")
    def start_rebuild(self, record: str, changes: dict[str, object], problems_before: frozenset[tuple[str, str]],
                      then_check: str | PackageSet) -> None:
        """The build `record` recorded, started again (e.g. a `debian:` kernel is looked up again)."""
        from kmodtui.core.build.job import rebuild

        try:
            new_record = rebuild(record, **changes)
        except KmodError as err:
            self.post_message(Notice(f"Cannot rebuild: {err}", "error", 12))
            return
        self.post_message(BuildStarted(new_record, problems_before=problems_before, then_check=then_check,
                                       replaces=record))

    @work(thread=True, group="build-start")
    def build_provider(self, source: str, kernel: str, mode: str) -> None:
        """The module that exports a remedy's symbol, built first (the same kernel, the consumer's mode)."""
        from kmodtui.core.build.job import start_detached

        try:
            [record] = start_detached(source, [kernel], mode)
        except KmodError as err:
            self.post_message(Notice(f"Cannot build the provider: {err}", "error", 12))
            return
        self.post_message(BuildStarted(record, provider=True))

    @work(thread=True, exclusive=True, group="running-builds")
    def read_running_builds(self, records: list[str]) -> None:
        self.post_message(RunningBuilds(len(running_among(records))))

    @work(thread=True, exclusive=True, group="resolve")
    def check_build(self, record: str) -> None:
        """Check what a build made, like with like (a package build as a package set)."""
        from kmodtui.core.build.recheck import recheck

        try:
            request, result = recheck(record)
        except KmodError as err:  # e.g. a kernel tree without (or with a damaged) Module.symvers
            self.post_message(Notice(f"Cannot check the symbols: {err}", "error", 12))
            return
        self.post_message(ResolveDone(result, source=request.source, record=record))

    @work(thread=True, exclusive=True, group="resolve")
    def check_set(self, package_set: PackageSet, old_record: str, new_record: str,
                  problems_before: frozenset[tuple[str, str]] | None) -> None:
        """A package set the user checked, checked again with a rebuilt provider's new packages in
        place of the old ones, and compared with the problems before the remedy."""
        from kmodtui.core.build.recheck import recheck_set

        try:
            result = recheck_set(package_set, old_record, new_record)
        except KmodError as err:
            self.post_message(Notice(f"Cannot check the symbols: {err}", "error", 12))
            return
        self.post_message(ResolveDone(result, previous=problems_before or frozenset()))

    @work(thread=True, exclusive=True, group="resolve")
    def check_modules(self, modules: list[str], kernel: Kernel, providers: list[str] | None = None) -> None:
        """Check modules that are not one of kmodtui's builds against a kernel."""
        from kmodtui.core.resolve.engine import resolve

        try:
            result = resolve(modules, kernel, providers or [])
        except KmodError as err:
            self.post_message(Notice(f"Cannot check the symbols: {err}", "error", 12))
            return
        self.post_message(ResolveDone(result))

    @work(thread=True, exclusive=True, group="resolve")
    def rebuild_demo(self, spec: str, problems_before: frozenset[tuple[str, str]], kernel: Kernel) -> None:
        """The demo's seed-000 story to its end: the provider RPM rebuilt from the remedied spec by the
        real rpmbuild, then the consumer checked against it as a package set."""
        from kmodtui.core.build.demo import demo_packages, rebuild_demo_provider
        from kmodtui.core.resolve.engine import resolve

        try:
            provider = rebuild_demo_provider(spec, os.path.join(state_dir(), "demo", "rpmbuild"),
                                             kernel.symvers_path or kernel.build_dir)
            consumer, _ = demo_packages()
            result = resolve(consumer, kernel, [provider])
            from kmodtui.core.resolve.asktool import ask_package_manager

            ask_package_manager(result)  # rpm -i --test, against the demo kernel's kernel() Provides
        except KmodError as err:
            self.post_message(Notice(f"Cannot rebuild the demo provider: {err}", "error", 15))
            return
        self.post_message(ResolveDone(result, demo=True, remedy_target=spec, previous=problems_before))

    @work(thread=True, exclusive=True, group="resolve")
    def resolve_demo(self, kernel: Kernel) -> None:
        # Seed 000 on real artifacts: the consumer's ksym() Requires against a provider packaged
        # the "generic" way. The provider's spec is copied where the user may edit it.
        from kmodtui.core.resolve.engine import resolve

        packages = package_data("data", "demo", "packages")
        from kmodtui.core.build.demo import demo_packages

        consumer, provider = demo_packages()
        result = resolve(consumer, kernel, provider)
        spec_copy = os.path.join(state_dir(), "demo", "kmod-provider.spec")
        os.makedirs(os.path.dirname(spec_copy), exist_ok=True)
        shutil.copyfile(os.path.join(packages, "kmod-provider.spec"), spec_copy)
        self.post_message(ResolveDone(result, demo=True, remedy_target=spec_copy))
