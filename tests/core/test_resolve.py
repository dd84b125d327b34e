"""`kmodtui resolve` gives depmod's answer for unknown symbols and CRC disagreements, and modpost's
for namespaces and GPL-only symbols, on the same real modules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from kmodtui.core.resolve.engine import resolve
from kmodtui.core.symvers.parse import read_symvers
from tests.realtools import (
    BuiltModules,
    copy_source,
    depmod_problems,
    kbuild,
    modpost_errors,
    require_tool,
    run_ok,
)

RELEASE = "6.1.0-99-kmodtui"  # the scratch tree's name; depmod does not care


def kmodtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True)


def scratch_tree(root: Path, *modules: Path) -> Path:
    extra = root / "lib" / "modules" / RELEASE / "extra"
    extra.mkdir(parents=True)
    for module in modules:
        shutil.copy(module, extra / module.name)
    return extra.parent


def our_problems(kernel: Kernel, tree: Path) -> set[tuple[str, str, str]]:
    """The problems, checked both ways: every need decided in Python, and the CLI's way for a
    listing of problems (kscan_needs.c's sieve hands Python only the doubtful ones)."""
    answers = []
    for problems_only in (False, True):
        result = resolve([str(tree)], kernel, problems_only=problems_only)
        answers.append(([(f.module, f.status, f.symbol, f.crc, f.provided_crc, f.explanation) for f in result.problems],
                        result.counts, result.module_count))
    assert answers[0] == answers[1]
    return {(m, status, symbol) for m, status, symbol, *_ in answers[0][0] if status in ("unknown_symbol", "crc_mismatch")}


@pytest.fixture(scope="module")
def altered_provider(built: BuiltModules, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The provider with provider_fn's prototype changed: genksyms gives it another CRC."""
    source = copy_source("provider", tmp_path_factory.mktemp("altered"),
                         {"int provider_fn(int x)": "long provider_fn(long x)"})
    result = kbuild(built.build_dir, source)
    assert result.returncode == 0, result.stderr
    return source / "provider.ko"


def test_clean_set_has_no_problems_for_depmod_or_us(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path, built.provider_ko, built.consumer_ko)
    assert depmod_problems(tmp_path, RELEASE, installed_kernel.symvers_path) == set()
    result = resolve([str(tree)], installed_kernel)
    assert result.ok and result.counts["ok"] == sum(len(m.needs) for m in result.modules)


def test_provider_missing_gives_depmods_unknown_symbols(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path, built.consumer_ko)
    expected = depmod_problems(tmp_path, RELEASE, installed_kernel.symvers_path)
    assert {p[2] for p in expected} == {"provider_fn", "provider_gpl_fn", "provider_ns_fn"}
    assert our_problems(installed_kernel, tree) == expected


def test_altered_crc_gives_depmods_disagreement(built: BuiltModules, installed_kernel: Kernel, altered_provider: Path, tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path, altered_provider, built.consumer_ko)
    expected = depmod_problems(tmp_path, RELEASE, installed_kernel.symvers_path)
    assert {(p[1], p[2]) for p in expected} == {("crc_mismatch", "provider_fn")}
    assert our_problems(installed_kernel, tree) == expected
    finding = next(f for f in resolve([str(tree)], installed_kernel).problems if f.symbol == "provider_fn")
    assert finding.crc == next(e.crc for e in read_symvers(built.provider_symvers).entries if e.name == "provider_fn")
    assert finding.provided_crc != finding.crc and "provider.ko" in finding.provider


def test_assembled_modules_against_a_synthetic_symvers_agree_with_depmod(tmp_path: Path) -> None:
    """Every kind of problem row, on modules assembled with `as` against a synthetic kernel
    Module.symvers: the unknown symbols and CRC disagreements are depmod's, pair for pair
    (hermetic: the quick tier's referee for resolve)."""
    from kmodtui.core.kernels.discover import find_kernel
    from tests.synthetic import every_problem_tree

    made = every_problem_tree(tmp_path / "made")
    tree = scratch_tree(tmp_path, *sorted(p for p in made.glob("*.ko") if p.name != "broken.ko"))
    symvers = str(made.parent / "kernel.symvers")
    expected = depmod_problems(tmp_path, RELEASE, symvers)
    assert {p[1] for p in expected} == {"unknown_symbol", "crc_mismatch"}
    assert our_problems(find_kernel(symvers), tree) == expected


def test_module_without_versions_matches_depmod(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    """objcopy renames __versions away (as if built without MODVERSIONS): depmod then
    'disagrees' on every versioned symbol, and so do we, saying the loader would only warn."""
    stripped = tmp_path / "consumer.ko"
    run_ok([require_tool("objcopy"), "--rename-section", "__versions=__no_versions", str(built.consumer_ko), str(stripped)])
    root = tmp_path / "root"
    tree = scratch_tree(root, built.provider_ko, stripped)
    expected = depmod_problems(root, RELEASE, installed_kernel.symvers_path)
    assert expected and {p[1] for p in expected} == {"crc_mismatch"}
    assert our_problems(installed_kernel, tree) == expected
    finding = next(iter(resolve([str(tree)], installed_kernel).problems))
    assert "only warn" in finding.explanation


def test_modules_against_another_abis_symvers(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    """Our modules checked against a symvers with altered vmlinux CRCs (awk rewrites them)."""
    symvers = tmp_path / "Module.symvers"
    with open(symvers, "w") as out:
        subprocess.run(["awk", "-F\t", "-v", "OFS=\t",
                        '$2 == "_printk" || $2 == "kfree" {$1 = "0x12345678"} {print}',
                        installed_kernel.symvers_path], stdout=out, check=True)
    root = tmp_path / "root"
    tree = scratch_tree(root, built.provider_ko, built.consumer_ko)
    expected = depmod_problems(root, RELEASE, str(symvers))
    assert {p[2] for p in expected} == {"_printk", "kfree"}
    result = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", str(tree), "--kernel", str(symvers), "--json",
                             "--problems-only"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    ours = {(f["module"], f["status"], f["symbol"]) for f in json.loads(result.stdout)["findings"]}
    assert ours == expected


def modpost_pairs(errors: list[str]) -> set[tuple[str, str]]:
    pairs = set()
    for line in errors:
        if m := re.search(r"uses symbol (\S+) from namespace (\S+), but does not import it", line):
            pairs.add(("namespace_not_imported", m.group(1)))
        elif m := re.search(r"uses GPL-only symbol '(\S+)'", line):
            pairs.add(("gpl_only", m.group(1)))
    return pairs


@pytest.mark.parametrize("case,edit,loosen", [
    ("namespace", {"MODULE_IMPORT_NS(KMODTUI_NS);": ""}, lambda row: row[:4] + [""]),
    ("gpl", {'MODULE_LICENSE("GPL")': 'MODULE_LICENSE("Proprietary")'},
     lambda row: row[:3] + ["EXPORT_SYMBOL"] + row[4:]),
])
def test_namespace_and_gpl_only_agree_with_modpost(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path,
                                                   case: str, edit: dict[str, str], loosen) -> None:
    """modpost refuses the broken consumer against the real provider (its ERROR lines are the
    referee); built against a provider symvers without the namespace/GPL marks, the same .ko
    exists, and resolve against the real provider.ko must name exactly modpost's pairs."""
    source = copy_source("consumer", tmp_path, edit)
    refused = kbuild(built.build_dir, source, f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}")
    assert refused.returncode != 0
    expected = modpost_pairs(modpost_errors(refused.stdout + refused.stderr))
    assert expected
    loose = tmp_path / "loose.symvers"
    rows = [line.split("\t") for line in built.provider_symvers.read_text().splitlines()]
    loose.write_text("".join("\t".join(loosen(row)) + "\n" for row in rows))
    shutil.rmtree(source)
    source = copy_source("consumer", tmp_path, edit)
    accepted = kbuild(built.build_dir, source, f"KBUILD_EXTRA_SYMBOLS={loose}")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    for problems_only in (False, True):  # the second through kscan_needs.c's sieve
        result = resolve([str(source / "consumer.ko")], installed_kernel, [str(built.provider_ko)],
                         problems_only=problems_only)
        assert {(f.status, f.symbol) for f in result.problems} == expected


def test_vermagic_of_another_release_without_modversions(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    result = resolve([str(built.provider_ko)], installed_kernel)
    assert result.ok
    from kmodtui.core.records import replace
    no_modversions = replace(installed_kernel, release="6.1.0-1-other", modversions=False,
                             vermagic_flags=("SMP", "preempt", "mod_unload"))
    findings = resolve([str(built.provider_ko)], no_modversions).problems
    assert [f.status for f in findings] == ["vermagic_mismatch"]
    assert "6.1.0-1-other" in findings[0].explanation


def test_unreadable_module_is_a_finding_and_the_rest_still_resolve(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ko"
    bad.write_bytes(built.consumer_ko.read_bytes()[:500])
    result = kmodtui("resolve", str(bad), str(built.provider_ko), "--kernel", installed_kernel.release, "--json")
    assert result.returncode == 1
    findings = json.loads(result.stdout)["findings"]
    assert [f["status"] for f in findings if f["module"] == str(bad)] == ["unreadable"]
    assert any(f["module"] == str(built.provider_ko) and f["status"] == "ok" for f in findings)


def test_not_a_symvers_file_is_exit_2_one_line(built: BuiltModules, tmp_path: Path) -> None:
    junk = tmp_path / "Module.symvers"
    junk.write_text("hello\nworld\n")
    result = kmodtui("resolve", str(built.consumer_ko), "--kernel", str(junk))
    assert result.returncode == 2
    assert result.stderr.strip() == f"kmodtui: {junk}: not a Module.symvers file: no line has the form 'crc<TAB>symbol<TAB>module'"


def test_not_a_symvers_file_is_exit_2_one_line_for_an_assembled_module(tmp_path: Path) -> None:
    """The same with a module assembled by `as`: hermetic."""
    from tests.synthetic import Assembled

    consumer = Assembled("consumer").needing(("provider_fn", 0xF96CAA5E)).assemble(tmp_path)
    junk = tmp_path / "Module.symvers"
    junk.write_text("hello\nworld\n")
    result = kmodtui("resolve", str(consumer), "--kernel", str(junk))
    assert result.returncode == 2
    assert result.stderr.strip() == f"kmodtui: {junk}: not a Module.symvers file: no line has the form 'crc<TAB>symbol<TAB>module'"


def test_warm_run_reuses_the_result_and_sees_a_rebuilt_module(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    tree = scratch_tree(tmp_path, built.consumer_ko)
    cache = str(tmp_path / "cache")
    cold = resolve([str(tree)], installed_kernel, cache_dir=cache)
    warm = resolve([str(tree)], installed_kernel, cache_dir=cache)
    assert warm.from_cache and not cold.from_cache
    assert [(f.module, f.symbol, f.status) for f in warm.problems] == [(f.module, f.symbol, f.status) for f in cold.problems]
    shutil.copy(built.provider_ko, tree / "extra" / "provider.ko")  # the fix lands: a new file in the tree
    fixed = resolve([str(tree)], installed_kernel, cache_dir=cache)
    assert not fixed.from_cache and fixed.ok


def test_markdown_report_names_each_problem(built: BuiltModules, installed_kernel: Kernel) -> None:
    result = kmodtui("resolve", str(built.consumer_ko), "--kernel", installed_kernel.release, "--markdown")
    assert result.returncode == 1
    assert "| `provider_fn` | unknown_symbol |" in result.stdout.replace(f"`{built.consumer_ko}` | ", "")


def test_output_to_a_full_disk_is_one_line_not_an_internal_error(built: BuiltModules, installed_kernel: Kernel) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", str(built.consumer_ko),
                                 "--kernel", installed_kernel.release, "--no-cache"],
                                stdout=full, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "kmodtui: output: No space left on device"


def test_flipped_cache_bytes_never_change_an_answer(built: BuiltModules, installed_kernel: Kernel,
                                                     altered_provider: Path, tmp_path: Path) -> None:
    """Issue 20: a 4-byte edit of a cached CRC used to turn crc_mismatch (exit 1) into ok (exit 0),
    and a truncated rows file broke every later run. Every cache file is flipped, truncated and
    emptied in turn; each answer must equal the uncached one (or be a clean recompute)."""
    import random

    tree = scratch_tree(tmp_path / "root", altered_provider, built.consumer_ko)
    cache = tmp_path / "cache"

    def answer(use_cache: bool) -> tuple:
        result = resolve([str(tree)], installed_kernel, cache_dir=str(cache) if use_cache else None)
        return (tuple(sorted((f.module, f.status, f.symbol, f.crc, f.provided_crc) for f in result.problems)),
                tuple(sorted(result.counts.items())))

    truth = answer(False)
    assert any(p[1] == "crc_mismatch" for p in truth[0])
    answer(True)  # fills the module cache and the result cache
    cli = [sys.executable, "-I", "-m", "kmodtui", "resolve", str(tree), "--kernel", installed_kernel.symvers_path]
    env = {**__import__("os").environ, "KMODTUI_CACHE_DIR": str(cache)}
    plain = subprocess.run(cli + ["--no-cache"], capture_output=True, text=True, env=env)
    subprocess.run(cli, capture_output=True, text=True, env=env)  # stores the rendered text report too
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    assert {p.suffix for p in files} >= {".columns", ".rows", ".summary", ".txt"}
    rng = random.Random(20)
    checked = 0
    for path in files:
        original = path.read_bytes()
        damages = [original[:len(original) // 2], b""]
        for _ in range(12):
            at = rng.randrange(len(original))
            damages.append(original[:at] + bytes([original[at] ^ (1 << rng.randrange(8))]) + original[at + 1:])
        if path.suffix in (".rows", ".columns"):  # a CRC's four bytes, as in the report
            at = rng.randrange(len(original) - 4)
            damages.append(original[:at] + b"\0\0\0\0" + original[at + 4:])
        for damaged in damages:
            path.write_bytes(damaged)
            if path.suffix == ".txt":
                out = subprocess.run(cli, capture_output=True, text=True, env=env)
                assert (out.returncode, out.stdout) == (plain.returncode, plain.stdout), path
            else:
                assert answer(True) == truth, path
            checked += 1
            path.write_bytes(original)
    assert checked >= 50


def test_a_big_cache_entry_is_mapped_and_still_sealed(tmp_path: Path) -> None:
    """Entries past 1 MiB (a whole tree's cached JSON) are mapped, not read, and written in pieces:
    the seal must hold the same way, a flipped byte or a cut is a miss, an aborted writer leaves
    nothing behind."""
    import os

    from kmodtui.core.paths import SealedWriter, read_cache_file, write_cache_file

    data = os.urandom(3 << 20)
    whole, pieces = tmp_path / "whole.json", tmp_path / "pieces.json"
    write_cache_file(str(whole), data)
    writer = SealedWriter(str(pieces))
    for at in range(0, len(data), 100_000):
        writer.write(data[at : at + 100_000])
    writer.close()
    assert bytes(read_cache_file(str(whole)) or b"") == data == bytes(read_cache_file(str(pieces)) or b"")
    sealed = whole.read_bytes()
    assert pieces.read_bytes()[:8] == sealed[:8]  # the same seal; the digest names each file's own entry
    for damaged in (sealed[: len(sealed) // 2], sealed[:-1],
                    sealed[:2_000_000] + bytes([sealed[2_000_000] ^ 1]) + sealed[2_000_001:]):
        whole.write_bytes(damaged)
        assert read_cache_file(str(whole)) is None
    aborted = SealedWriter(str(tmp_path / "aborted.json"))
    aborted.write(data)
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pieces.json", "whole.json"]


@pytest.mark.network
def test_unstables_kernel_tree_resolves_against_its_own_symvers(tmp_path: Path) -> None:
    """Debian unstable's kernel (7.x, MODVERSIONS off, every module .ko.xz, exports scoped to named
    modules with EXPORT_SYMBOL_FOR_MODULES: namespace `module:kvm,kvm-amd,kvm-intel`): its own
    module tree against its own Module.symvers is a working set. kmodtui said 389
    namespace_not_imported (btrfs needs filemap_flush_nr...); the loader's rule lets the named
    modules use them, and so does kmodtui now."""
    from tests.realtools import apt_depends_of, apt_download_from

    [image] = [d for d in apt_depends_of("linux-image-amd64", "sid") if d.startswith("linux-image-")]
    release = image.removeprefix("linux-image-")
    modules_deb = apt_download_from(f"linux-modules-{release}", "sid")
    headers_deb = apt_download_from(f"linux-headers-{release}", "sid")
    root = tmp_path / "root"
    for deb in (modules_deb, headers_deb):
        run_ok([require_tool("dpkg-deb"), "-x", str(deb), str(root)])
    tree = root / "usr" / "lib" / "modules" / release
    symvers = root / "usr" / "src" / f"linux-headers-{release}" / "Module.symvers"
    assert "module:" in symvers.read_text()  # the kernel really scopes exports to modules
    result = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", str(tree), "--kernel", str(symvers),
                             "--no-cache", "--json", "--problems-only"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    report = json.loads(result.stdout)
    assert report["findings"] == [] and report["summary"]["modules"] > 4000


@pytest.mark.parametrize(("namespace", "module", "allowed"), [
    ("module:kvm,kvm-amd,kvm-intel", "kvm_amd", True),  # '-' and '_' compare equal
    ("module:kvm,kvm-amd,kvm-intel", "kvm", True),
    ("module:kvm-*", "kvm_intel", True),  # a trailing * matches any rest
    ("module:kvm", "kvm_amd", False),
    ("module:btrfs", "xfs", False),
    ("BTRFS_INTERNAL", "btrfs", False),  # an ordinary namespace still needs MODULE_IMPORT_NS
])
def test_module_scoped_namespaces_follow_the_loaders_rule(namespace: str, module: str, allowed: bool) -> None:
    from kmodtui.core.resolve.checks import module_may_use

    assert module_may_use(namespace, module) is allowed
