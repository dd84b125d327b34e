from __future__ import annotations

import os
from pathlib import Path

import pytest

from kmodtui.core.kernels.discover import discover_kernels
from kmodtui.core.model import Kernel
from tests.realtools import BuiltModules, build_examples, missing, require_tool
from tests.runlocks import made_once, turn

# Fixtures that mean "this test needs the installed kernel headers" (and kbuild builds with them)
NEEDS_HEADERS = {"installed_kernel", "built", "kernel"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--quick", action="store_true",
                     help="the hermetic tier: no kernel headers, no network, no real-tool builds (README)")


def is_quick(item: pytest.Item) -> bool:
    """Hermetic and quick: needs neither the installed headers (nor kbuild builds made with them), nor
    the network, nor real-tool builds (`slow`, `realtool`), nor seconds of bombs and pumps (`heavy`)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    return not (fixtures & NEEDS_HEADERS) and not any(m in item.keywords
                                                      for m in ("slow", "network", "realtool", "heavy"))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--quick keeps the hermetic tier only. Slow tests (real OpenZFS builds, debootstrapped Debian 13
    and unstable chroots) and network tests (Debian's archive) run in CI and when asked; elsewhere
    they are skipped, saying how. Then the order for parallel workers (see for_workers)."""
    if config.getoption("--quick"):
        kept = [item for item in items if is_quick(item)]
        config.hook.pytest_deselected(items=[item for item in items if not is_quick(item)])
        items[:] = kept
    elif os.environ.get("CI", "").lower() != "true" and os.environ.get("KMODTUI_SLOW") != "1":
        skip_slow_and_network(items)
    for_workers(items)


def for_workers(items: list[pytest.Item]) -> None:
    """With pytest-xdist (scripts/test runs `-n <cores> --dist loadgroup --no-loadscope-reorder`), the
    longest tests start first (slow ones by their timeout, then real-tool ones, the hermetic tier
    last), so no worker is left with one long build at the end; a module whose tests share a
    module-scoped fixture (a kbuild, an rpmbuild, a chroot) runs on one worker, so the fixture is made once."""
    def weight(item: pytest.Item) -> tuple[int, float]:
        timeout = item.get_closest_marker("timeout")
        seconds = float(timeout.args[0]) if timeout and timeout.args else 0.0
        return (0 if "slow" in item.keywords else 1 if not is_quick(item) else 2), -seconds

    items.sort(key=weight)  # stable: the files' order otherwise
    grouped = set()
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs.values() if info else ()
        if any(d[-1].scope == "module" for d in defs) and item.module is not None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
            grouped.add(item.nodeid)
    workers = int(getattr(items[0].config, "workerinput", {}).get("workercount", 0)) if items else 0
    if workers > 1:
        space_the_first(items, workers, grouped)


def space_the_first(items: list[pytest.Item], workers: int, grouped: set[str]) -> None:
    """xdist's scheduler gives each worker its first unit, then at once a second one (queued behind
    the first: loadscope's "at least two work units"). Here the first `workers` units are the longest
    tests by their timeout (seed 000's two OpenZFS builds first), so the second unit of each worker is a
    short hermetic test: the long test that comes next (the shared OpenZFS build's group) goes to
    whichever worker is free first, not behind seed 000. When a grouped module is among the first, the
    order is left as it is (a group is one unit: it cannot be spaced)."""
    if len(items) < 2 * workers or any(item.nodeid in grouped for item in items[:workers]):
        return
    spacers = [item for item in reversed(items[workers:]) if item.nodeid not in grouped and is_quick(item)
               and "heavy" not in item.keywords][:workers]
    if len(spacers) < workers:
        return
    for spacer in spacers:
        items.remove(spacer)
    items[workers:workers] = spacers


def skip_slow_and_network(items: list[pytest.Item]) -> None:
    slow = pytest.mark.skip(reason="slow (builds OpenZFS, or debootstraps Debian 13/unstable chroots: minutes each): "
                                   "run with KMODTUI_SLOW=1 ./scripts/test (CI runs it)")
    network = pytest.mark.skip(reason="network (downloads from Debian's archive): run with KMODTUI_NETWORK=1 "
                                      "./scripts/test (CI runs it)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(slow)
        elif "network" in item.keywords and os.environ.get("KMODTUI_NETWORK") != "1":
            item.add_marker(network)


def run_folder(config: pytest.Config) -> Path | None:
    """A folder all of this run's xdist workers share (their basetemps' parent); None without xdist."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not config.option.basetemp:
        return None
    return Path(config.option.basetemp).parent


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Tests run side by side, except one marked `alone` (the fork bomb, when not run as root: a user's
    confined builds share that user's process budget), which runs while no other does."""
    folder = run_folder(item.config)
    if folder is None:
        yield
        return
    with turn(folder / "turns", alone=item.get_closest_marker("alone") is not None):
        yield


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """kmodtui's cache and state go to a scratch folder, never the user's."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("KMODTUI_CACHE_DIR", str(base / "kmodtui-cache"))
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(base / "kmodtui-state"))


@pytest.fixture(scope="session")
def installed_kernel() -> Kernel:
    """The Debian headers installed here (linux-headers-amd64), with a Module.symvers."""
    kernels = [k for k in discover_kernels("/") if k.symvers_path and os.path.isfile(os.path.join(k.build_dir, "Makefile"))]
    if not kernels:
        missing("no kernel headers with Module.symvers: run `sudo apt-get install linux-headers-amd64`")
    running = os.uname().release
    return next((k for k in kernels if k.release == running), kernels[0])


@pytest.fixture(scope="session")
def built(installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
          ) -> BuiltModules:
    """The example provider and consumer, built once per test run with real kbuild."""
    require_tool("make")
    require_tool(installed_kernel.compiler_command or "gcc")
    folder = run_folder(request.config) or tmp_path_factory.getbasetemp()
    done = made_once(folder / f"kbuild-{installed_kernel.release}",  # once per run, whichever worker asks first
                     lambda dest: build_examples(installed_kernel.build_dir, installed_kernel.release, dest))
    return BuiltModules(installed_kernel.release, installed_kernel.build_dir, done / "provider", done / "consumer")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
