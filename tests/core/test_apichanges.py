"""The table of kernel API changes (kmodtui/core/diagnose/apichanges.toml): its shape, its compat
snippets compiled with real kbuild, and the change `diagnose` and the build screen name on real gcc and
modpost output (tiny modules that call an API the installed headers no longer have) and on the public
logs of tests/logs/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kmodtui.core.build.logscan import scan_text
from kmodtui.core.diagnose import diagnose_text
from kmodtui.core.diagnose.apichanges import KINDS, change_for_line, table
from kmodtui.core.diagnose.engine import decode_log
from kmodtui.core.diagnose.report import diagnosis_json
from kmodtui.core.model import Kernel
from tests.realtools import kbuild, require_tool

LOGS = Path(__file__).resolve().parent.parent / "logs"


def _version(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


# ---- the table's shape ---------------------------------------------------------------------------

def test_the_table_has_80_changes_from_5_x_to_7_x_in_release_order() -> None:
    changes = table()
    assert len(changes) >= 80
    assert len({c.id for c in changes}) == len(changes)
    versions = [_version(c.version) for c in changes]
    assert all((5, 0) <= v < (8, 0) for v in versions), versions
    assert versions == sorted(versions)
    assert max(versions) >= (7, 0)


@pytest.mark.parametrize("change", table(), ids=lambda c: c.id)
def test_every_change_is_complete(change) -> None:  # noqa: ANN001
    assert re.fullmatch(r"[0-9a-f]{12,40}", change.commit), change.commit
    assert change.errors and set(change.errors) <= set(KINDS)
    assert change.symbol or change.text  # what a line names it by
    assert change.replacement and change.verified
    if change.rename:
        assert change.mechanical
    # the guard a maintainer would write (missing prototypes: a declaration, any kernel)
    # (a make variable: the Makefile line every release reads)
    assert "LINUX_VERSION_CODE" in change.compat or re.search(r"#if(?:n?def| IS_ENABLED)", change.compat) \
        or change.id == "missing-prototypes" or "make_command" in change.errors and "M=" in change.compat, change.compat
    said = change.sentence()
    assert f"Linux {change.version}" in said and change.commit in said


def test_a_commit_id_is_one_change() -> None:
    """One upstream commit, one subject: two rows citing one commit quote the same subject (or none)."""
    subjects: dict[str, set[str]] = {}
    for change in table():
        if change.subject:
            subjects.setdefault(change.commit, set()).add(change.subject)
    assert all(len(s) == 1 for s in subjects.values()), subjects


# ---- real gcc and modpost output against the installed (Debian 12, 6.1) headers --------------------

# Each file calls an API that Linux removed or changed before 6.1; the change the error must name.
GONE_BY_6_1 = {
    "prandom.c": ("#include <linux/prandom.h>\nu32 k_prandom(void) { return prandom_u32(); }\n", "prandom_u32-removed"),
    "napi.c": ("#include <linux/netdevice.h>\nstatic int k_poll(struct napi_struct *n, int b) { return 0; }\n"
               "void k_napi(struct net_device *d, struct napi_struct *n) { netif_napi_add(d, n, k_poll, 64); }\n",
               "netif_napi_add-weight"),
    "pde.c": ("#include <linux/proc_fs.h>\nvoid *k_pde(struct inode *i) { return PDE_DATA(i); }\n", "PDE_DATA-renamed"),
    "kthread.c": ("#include <linux/kthread.h>\n#include <linux/completion.h>\n"
                  "void k_exit(struct completion *c) { complete_and_exit(c, 0); }\n", "complete_and_exit-renamed"),
    "genhd.c": ("#include <linux/genhd.h>\nint k_genhd;\n", "genhd.h-removed"),
    "bio.c": ("#include <linux/bio.h>\nstruct bio *k_bio(void) { return bio_alloc(GFP_KERNEL, 1); }\n",
              "bio_alloc-bdev-opf"),
    "cpus.c": ("#include <linux/cpu.h>\nvoid k_cpus(void) { get_online_cpus(); }\n", "get_online_cpus-removed"),
    "pci.c": ("#include <linux/pci.h>\nint k_pci(struct pci_dev *p) { return pci_set_dma_mask(p, DMA_BIT_MASK(64)); }\n",
              "pci_set_dma_mask-removed"),
    "ioremap.c": ("#include <linux/io.h>\nvoid __iomem *k_io(void) { return ioremap_nocache(0, 4); }\n",
                  "ioremap_nocache-removed"),
    "task.c": ("#include <linux/sched.h>\nlong k_state(void) { return current->state; }\n", "task-state-renamed"),
    "netif.c": ("#include <linux/netdevice.h>\nint k_rx(struct sk_buff *s) { return netif_rx_ni(s); }\n",
                "netif_rx_ni-removed"),
    "shrinker.c": ("#include <linux/shrinker.h>\nstruct shrinker k_s;\nint k_shr(void) { return register_shrinker(&k_s); }\n",
                   "register_shrinker-name"),
    "bdev.c": ("#include <linux/blkdev.h>\nconst char *k_name(struct block_device *b, char *buf) { return bdevname(b, buf); }\n",
               "bdevname-removed"),
    "vmalloc.c": ("#include <linux/vmalloc.h>\nvoid *k_vm(void) { return __vmalloc(4096, GFP_KERNEL, PAGE_KERNEL); }\n",
                  "__vmalloc-prot"),
    "kobj.c": ("#include <linux/kobject.h>\nstruct kobj_type k_t = { .default_attrs = NULL };\n", "kobj_type-default_attrs"),
    "request.c": ("#include <linux/blk-mq.h>\nstruct gendisk *k_rq(struct request *r) { return r->rq_disk; }\n",
                  "rq_disk-removed"),
    "access.c": ("#include <linux/uaccess.h>\nint k_ok(void __user *p) { return access_ok(VERIFY_READ, p, 4); }\n",
                 "access_ok-type"),
}


@pytest.fixture(scope="module")
def gone_by_6_1(installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> str:
    """What kbuild and gcc said on the files above (make -k: every file is compiled)."""
    if _version(".".join(installed_kernel.release.split(".")[:2])) < (6, 1):
        pytest.skip(f"these APIs are gone from 6.1 on; the headers here are {installed_kernel.release}")
    require_tool(installed_kernel.compiler_command or "gcc")
    source = tmp_path_factory.mktemp("gone")
    for name, (text, _) in GONE_BY_6_1.items():
        (source / name).write_text('#include <linux/module.h>\n' + text)
    objects = " ".join(name.replace(".c", ".o") for name in GONE_BY_6_1)
    (source / "Kbuild").write_text(f"obj-m := gone.o\ngone-y := {objects}\n")
    result = kbuild(installed_kernel.build_dir, source, "-k")
    assert result.returncode != 0
    return result.stdout + result.stderr


@pytest.mark.parametrize("name", GONE_BY_6_1)
def test_diagnose_names_the_change_behind_real_gcc_errors(gone_by_6_1: str, name: str) -> None:
    expected = GONE_BY_6_1[name][1]
    lines = [line for line in gone_by_6_1.splitlines() if line.startswith(f"{name}:") or f"/{name}:" in line]
    named = {c.id for c in map(change_for_line, lines) if c is not None}
    assert expected in named, (name, named, lines)
    # diagnose reads the file's error lines the same way (its signals), and so does the build screen
    signals = diagnose_text("\n".join(lines)).signals
    assert expected in {s.detail("api_change") for s in signals}
    assert expected in {f.detail("api_change") for f in scan_text("\n".join(lines))}


def test_the_whole_real_log_names_one_change_with_its_compat_guard(gone_by_6_1: str) -> None:
    payload = diagnosis_json(diagnose_text(gone_by_6_1))
    primary = payload["primary"]
    assert primary["cause"] == "kernel_api_change"
    change = primary["api_change"]
    assert change["commit"] in primary["fix"] and f"Linux {change['version']}" in primary["fix"]
    assert "LINUX_VERSION_CODE" in change["compat"]
    json.dumps(payload)


def test_an_unexported_symbol_is_named_on_real_modpost_output(installed_kernel: Kernel, tmp_path: Path) -> None:
    """modpost's "undefined!" for a symbol the kernel stopped exporting is a kernel change, not a module
    built elsewhere: no KBUILD_EXTRA_SYMBOLS can help, and diagnose says so."""
    require_tool(installed_kernel.compiler_command or "gcc")
    (tmp_path / "kall.c").write_text(
        "#include <linux/module.h>\nextern unsigned long kallsyms_lookup_name(const char *name);\n"
        "static int __init k_init(void) { return kallsyms_lookup_name(\"jiffies\") ? 0 : -1; }\n"
        "module_init(k_init);\nMODULE_LICENSE(\"GPL\");\n")
    (tmp_path / "Kbuild").write_text("obj-m := kall.o\n")
    result = kbuild(installed_kernel.build_dir, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and '"kallsyms_lookup_name"' in output, output
    primary = diagnosis_json(diagnose_text(output))["primary"]
    assert primary["cause"] == "kernel_api_change"
    assert primary["api_change"]["id"] == "kallsyms_lookup_name-unexported"
    assert "KBUILD_EXTRA_SYMBOLS" not in primary["api_change"]["sentence"]


def test_the_define_only_compat_snippets_compile(installed_kernel: Kernel, tmp_path: Path) -> None:
    """Every snippet made of preprocessor lines only (the renames, the headers) compiles at file scope
    against the installed headers, all of them in one file."""
    require_tool(installed_kernel.compiler_command or "gcc")
    snippets = [c for c in table() if all(line.startswith("#") for line in c.compat.splitlines())]
    assert len(snippets) >= 20
    includes = ("version", "module", "timer", "proc_fs", "kthread", "netdevice", "io", "blkdev", "cpu", "prandom", "random",
                "pci", "uuid", "file", "fdtable", "limits")
    body = "".join(f"#include <linux/{h}.h>\n" for h in includes)
    body += "#include <scsi/scsi_proto.h>\n"
    body += "".join(f"/* {c.id} */\n{c.compat}\n" for c in snippets)
    (tmp_path / "compat.c").write_text(body + 'MODULE_LICENSE("GPL");\n')
    (tmp_path / "Kbuild").write_text("obj-m := compat.o\n")
    result = kbuild(installed_kernel.build_dir, tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


# ---- public logs ---------------------------------------------------------------------------------

# tests/logs/ (each from its public thread, manifest.json): the change the thread's fix made
PUBLIC = {
    "001-xpad-from_timer-6.16.log": "from_timer-renamed",
    "059-xone-7.0-ida_simple_get-removed.log": "ida_simple_get-removed",
    "060-spi-ch341-subdirs-removed-5.4.log": "SUBDIRS-removed",  # only kbuild's DESCEND into the tree's tools
    "086-rtl8812au-6.1-prandom_u32-removed.log": "prandom_u32-removed",
    "097-digimend-9-subdirs-kernel-5.6-zh.log": "SUBDIRS-removed",  # the make command's SUBDIRS=
    "099-nvidia-open-6.13-module-import-ns-string.log": "module-import-ns-string",
    "100-gasket-6.13-module-import-ns-string-obs.log": "module-import-ns-string",
    "101-kvmfr-6.13-module-import-ns-string-nix.log": "module-import-ns-string",
    "102-evdi-6.13.4-module-import-ns-string.log": "module-import-ns-string",
}


@pytest.mark.parametrize("name", PUBLIC)
def test_diagnose_names_the_change_the_threads_fix_made(name: str) -> None:
    path = LOGS / name
    primary = diagnosis_json(diagnose_text(decode_log(path.read_bytes())))["primary"]
    assert primary["api_change"]["id"] == PUBLIC[name]
    assert primary["api_change"]["commit"] in primary["fix"]


# ---- the compat remedy -----------------------------------------------------------------------------

RANDOM_MODULE = """#include <linux/module.h>
#include <linux/prandom.h>

static int __init rnd_init(void)
{
\tpr_info("rnd %u\\n", prandom_u32());
\treturn 0;
}
module_init(rnd_init);
MODULE_LICENSE("GPL");
"""


def test_the_compat_remedy_makes_a_renamed_call_build_and_undoes(installed_kernel: Kernel, tmp_path: Path) -> None:
    """prandom_u32() is gone from 6.1: kbuild fails, diagnose names the change and offers kernel-compat;
    its plan renames the call and adds the guard; the rebuild succeeds and is clean; undo restores."""
    from kmodtui.core.remedies import edits
    from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy

    if _version(".".join(installed_kernel.release.split(".")[:2])) < (6, 1):
        pytest.skip(f"prandom_u32() is gone from 6.1 on; the headers here are {installed_kernel.release}")
    require_tool(installed_kernel.compiler_command or "gcc")
    source = tmp_path / "rnd"
    source.mkdir()
    (source / "rnd.c").write_text(RANDOM_MODULE)
    (source / "Kbuild").write_text("obj-m := rnd.o\n")
    failed = kbuild(installed_kernel.build_dir, source)
    assert failed.returncode != 0
    primary = diagnosis_json(diagnose_text(failed.stdout + failed.stderr))["primary"]
    assert primary["api_change"]["id"] == "prandom_u32-removed" and primary["remedies"] == ["kernel-compat"]

    plan = get_remedy("kernel-compat").plan(RemedyOptions(target=str(source), change=primary["api_change"]["id"]))
    diff = plan.diff()
    assert "+\tpr_info(\"rnd %u\\n\", get_random_u32());" in diff and "LINUX_VERSION_CODE" in diff
    assert plan.rebuild == "same"
    undo_id = edits.apply_edits(plan.remedy, list(plan.edits))
    rebuilt = kbuild(installed_kernel.build_dir, source)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert (source / "rnd.ko").is_file()
    assert diagnose_text(rebuilt.stdout + rebuilt.stderr).primary is None  # re-checked: nothing wrong
    edits.undo(undo_id)
    assert (source / "rnd.c").read_text() == RANDOM_MODULE


def test_the_compat_remedy_plans_only_mechanical_rewrites(tmp_path: Path) -> None:
    from kmodtui.core.errors import KmodError
    from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy

    (tmp_path / "a.c").write_text("int f(void) { return current->state; }\n")
    with pytest.raises(KmodError, match="not a mechanical rewrite"):
        get_remedy("kernel-compat").plan(RemedyOptions(target=str(tmp_path), change="task-state-renamed"))
    renames = [c for c in table() if c.rename]
    assert len(renames) >= 20 and all(c.mechanical for c in renames)


def test_the_build_screen_offers_the_compat_remedy_for_a_mechanical_rename() -> None:
    """The live scan's finding for the real line of tests/logs/086 (its thread: prandom_u32 in 6.1)."""
    lines = decode_log((LOGS / "086-rtl8812au-6.1-prandom_u32-removed.log").read_bytes())
    found = [f for f in scan_text(lines) if f.detail("api_change") == "prandom_u32-removed"]
    assert found and "kernel-compat" in found[0].all_remedies()
    assert "commit de492c83cae0" in found[0].fix
