"""resolve's findings as JSON, from report/: one encoder for problem rows, two forms (objects for
--jsonl and a small --json, bytes for a whole tree's --json), the same bytes whichever form; and the
streamed answer kept beside the cached result only when it was written whole."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.realtools import BuiltModules, copy_source, kbuild

LONELY_C = """#include <linux/module.h>
#include <linux/init.h>
int kmodtui_nowhere_fn(int x);
static int __init lonely_init(void) { return kmodtui_nowhere_fn(0); }
module_init(lonely_init);
MODULE_LICENSE("GPL");
"""


def _built(folder: Path, name: str, result_stdout: str) -> Path:
    module = folder / f"{name}.ko"
    assert module.exists(), result_stdout[-3000:]
    return module


@pytest.fixture(scope="module")
def every_problem(built: BuiltModules, installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of modules, built by kbuild, that between them have every kind of problem row, and a
    copy of the kernel's Module.symvers in which _printk has no CRC (as a kernel built without
    MODVERSIONS writes it). Returns the folder; the symvers is `kernel.symvers` beside it."""
    base = tmp_path_factory.mktemp("every-problem")
    build = installed_kernel.build_dir
    # a provider whose GPL-only and namespaced exports are plain: consumers built against it link
    lax = copy_source("provider", base / "lax", {"EXPORT_SYMBOL_GPL(provider_gpl_fn)": "EXPORT_SYMBOL(provider_gpl_fn)",
                                                 "EXPORT_SYMBOL_NS_GPL(provider_ns_fn, KMODTUI_NS)":
                                                 "EXPORT_SYMBOL(provider_ns_fn)"})
    _built(lax, "provider", kbuild(build, lax).stdout)
    lax_symvers = f"KBUILD_EXTRA_SYMBOLS={lax / 'Module.symvers'}"
    other = copy_source("provider", base / "other", {"int provider_fn(int x)": "long provider_fn(long x)"})
    _built(other, "provider", kbuild(build, other).stdout)
    targets = base / "targets"
    targets.mkdir()
    shutil.copy(built.provider_ko, targets / "provider.ko")
    for name, edit, extra in (
            ("noimport", {"MODULE_IMPORT_NS(KMODTUI_NS);": ""}, (lax_symvers,)),  # namespace_not_imported
            ("proprietary", {'MODULE_LICENSE("GPL")': 'MODULE_LICENSE("Proprietary")'}, (lax_symvers,)),  # gpl_only
            ("noversions", {}, (f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}", "CONFIG_MODVERSIONS=")),
            ("oldprovider", {}, (f"KBUILD_EXTRA_SYMBOLS={other / 'Module.symvers'}",))):  # crc_mismatch
        consumer = copy_source("consumer", base / name, edit or None)
        shutil.copy(_built(consumer, "consumer", kbuild(build, consumer, *extra).stdout), targets / f"{name}.ko")
    lonely = base / "lonely"
    lonely.mkdir()
    (lonely / "lonely.c").write_text(LONELY_C)
    (lonely / "Kbuild").write_text("obj-m := lonely.o\n")
    # modpost only warns about the symbol nothing exports: unknown_symbol
    shutil.copy(_built(lonely, "lonely", kbuild(build, lonely, "KBUILD_MODPOST_WARN=1").stdout), targets / "lonely.ko")
    (targets / "broken.ko").write_bytes(b"not a module")  # unreadable: a module finding among the rows
    symvers = Path(installed_kernel.symvers_path or "").read_text().splitlines(keepends=True)
    (base / "kernel.symvers").write_text("".join(
        "0x00000000" + line[line.index("\t"):] if line.split("\t")[1:2] == ["_printk"] else line for line in symvers))
    return targets


@pytest.fixture(scope="module")
def every_problem_assembled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same kinds of problem row as every_problem, from modules assembled with `as` against a
    synthetic kernel Module.symvers: no headers needed, so in the quick tier."""
    from tests.synthetic import every_problem_tree

    return every_problem_tree(tmp_path_factory.mktemp("every-problem-assembled"))


def test_every_kind_of_problem_row_is_the_same_object_and_the_same_bytes(every_problem: Path) -> None:
    """For every explanation a problem row can get (unknown_symbol, the three CRC stories,
    namespace_not_imported, gpl_only), the row's object is finding_json(explain(row)), and the
    bytes a whole tree's --json joins from parts encoded once are those of encoding each object
    whole with the encoder --json uses."""
    _every_kind_is_the_same_object_and_the_same_bytes(every_problem)


def test_every_kind_of_problem_row_of_assembled_modules_is_the_same_object_and_bytes(
        every_problem_assembled: Path) -> None:
    """The same, on assembled modules and a synthetic kernel Module.symvers (hermetic)."""
    _every_kind_is_the_same_object_and_the_same_bytes(every_problem_assembled)


def _every_kind_is_the_same_object_and_the_same_bytes(every_problem: Path) -> None:
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.report.encode import compact_json
    from kmodtui.core.report.findings import (
        findings_json,
        findings_json_chunks,
        json_array_chunks,
        problem_rows_json,
        problem_rows_json_pieces,
    )
    from kmodtui.core.report.render import finding_json
    from kmodtui.core.resolve.engine import resolve
    from kmodtui.core.resolve.explain import explain
    from tests.findingforms import problem_row_json, problem_rows_json_bytes

    result = resolve([str(every_problem)], find_kernel(str(every_problem.parent / "kernel.symvers")),
                     problems_only=True)
    release = result.kernel.release if result.kernel else "the kernel"
    rows = result.problem_rows
    objects = list(problem_rows_json(rows, release))
    assert objects == [finding_json(explain(row, release)) for row in rows]
    assert [problem_row_json(row, release) for row in rows] == objects
    whole = b"[" + b",".join(map(compact_json, objects)) + b"]"
    for chunk in (1, 2, 4096):
        assert b"".join(json_array_chunks(problem_rows_json_pieces(rows, release, compact_json), chunk)) == whole
    assert problem_rows_json_bytes(rows, release, compact_json) == whole
    everything = list(findings_json(result, problems_only=True))
    assert b"".join(findings_json_chunks(result, True, compact_json, chunk=3)) == \
        b"[" + b",".join(map(compact_json, everything)) + b"]"
    stories = {o["explanation_id"] for o in objects}
    print("explanations compared:", sorted(stories), len(rows), "rows")
    assert stories == {"unknown_symbol", "crc_without_versions", "crc_provider_without_crc", "crc_mismatch",
                       "namespace_not_imported", "gpl_only"}
    assert {f["status"] for f in everything} >= {"unreadable", "unknown_symbol", "crc_mismatch",
                                                 "namespace_not_imported", "gpl_only"}


def test_a_streamed_answer_is_kept_whole_or_not_at_all(tmp_path: Path) -> None:
    """write_and_keep sends each chunk to the output and to the sealed cache file; a reader that
    leaves (a closed pipe) stops the answer, and nothing of it is kept."""
    from kmodtui.core.paths import SealedWriter, read_cache_file
    from kmodtui.core.report.stream import write_and_keep

    chunks = [b"[" + b"1," * 50_000, b"2," * 50_000, b"3]"]
    out = io.BytesIO()
    write_and_keep(iter(chunks), out, SealedWriter(str(tmp_path / "whole.json")))
    assert out.getvalue() == b"".join(chunks)
    kept = read_cache_file(str(tmp_path / "whole.json"))
    assert kept is not None and bytes(kept) == b"".join(chunks)

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the answer
    with open(write_end, "wb", buffering=0) as closed, pytest.raises(BrokenPipeError):
        write_and_keep(iter(chunks), closed, SealedWriter(str(tmp_path / "cut.json")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["whole.json"]
