"""The compat remedy's rewrites beyond renames (core/remedies/compatedits.py) on real gcc output: a
module written for kernels before 5.0 and 6.1 fails on the installed 6.1 headers; diagnose names one
change at a time, the remedy rewrites its calls through a guarded macro, the rebuild names the next,
and in the end kbuild builds it. Undo restores the bytes. (Debian's own sources on newer kernels:
test_compat_world.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.diagnose import diagnose_text
from kmodtui.core.diagnose.report import diagnosis_json
from kmodtui.core.model import Kernel
from tests.realtools import kbuild, require_tool

OLD_MODULE = """#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/uaccess.h>

static int m_poll(struct napi_struct *napi, int budget)
{
\treturn 0;
}

int m_setup(struct net_device *dev, struct napi_struct *napi, const void __user *p)
{
\tif (!access_ok(VERIFY_READ, p, 4))
\t\treturn -EFAULT;
\tnetif_napi_add(dev, napi, m_poll, 64);
\treturn 0;
}
EXPORT_SYMBOL_GPL(m_setup);
MODULE_LICENSE("GPL");
"""


def test_calls_whose_arguments_changed_are_rewritten_one_change_at_a_time(installed_kernel: Kernel,
                                                                          tmp_path: Path) -> None:
    from kmodtui.core.remedies import edits
    from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy

    if not installed_kernel.release.startswith("6.1."):
        pytest.skip(f"written for 6.1's headers (netif_napi_add lost its weight in 6.1); here {installed_kernel.release}")
    require_tool(installed_kernel.compiler_command or "gcc")
    source = tmp_path / "m"
    source.mkdir()
    (source / "m.c").write_text(OLD_MODULE)
    (source / "Kbuild").write_text("obj-m := m.o\n")
    applied, undo_ids = [], []
    built = kbuild(installed_kernel.build_dir, source)
    for _ in range(4):
        if built.returncode == 0:
            break
        primary = diagnosis_json(diagnose_text(built.stdout + built.stderr))["primary"]
        assert primary["cause"] == "kernel_api_change" and "kernel-compat" in primary["remedies"], primary
        plan = get_remedy("kernel-compat").plan(RemedyOptions(target=str(source), change=primary["api_change"]["id"]))
        assert "LINUX_VERSION_CODE" in plan.diff() and plan.rebuild == "same"
        undo_ids.append(edits.apply_edits(plan.remedy, list(plan.edits)))
        applied.append(primary["api_change"]["id"])
        built = kbuild(installed_kernel.build_dir, source)
    assert applied == ["access_ok-type", "netif_napi_add-weight"]
    assert built.returncode == 0 and (source / "m.ko").is_file(), built.stdout + built.stderr
    text = (source / "m.c").read_text()
    assert "kmodtui_access_ok(VERIFY_READ, p, 4)" in text and "kmodtui_netif_napi_add(dev, napi, m_poll, 64)" in text
    assert diagnose_text(built.stdout + built.stderr).primary is None
    for undo_id in reversed(undo_ids):
        edits.undo(undo_id)
    assert (source / "m.c").read_text() == OLD_MODULE


def test_every_rewrite_kind_has_rows_and_a_source_without_the_old_api_is_refused(tmp_path: Path) -> None:
    from kmodtui.core.diagnose.apichanges import table
    from kmodtui.core.errors import KmodError
    from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy

    (tmp_path / "a.c").write_text("#include <linux/fs.h>\nstatic struct file_operations f = { .llseek = generic_file_llseek };\n")
    with pytest.raises(KmodError, match="no .c or .h file here uses no_llseek"):
        get_remedy("kernel-compat").plan(RemedyOptions(target=str(tmp_path), change="no_llseek-removed"))
    kinds = {"rename": [c for c in table() if c.rename], "call": [c for c in table() if c.call],
             "const_callback": [c for c in table() if c.const_callback and c.const_param],
             "string_arg": [c for c in table() if c.string_arg >= 0],
             "drop_initializer": [c for c in table() if c.drop_initializer]}
    assert all(kinds.values()), {k: len(v) for k, v in kinds.items()}
    assert all(c.rewritable for rows in kinds.values() for c in rows)
    for change in kinds["call"]:  # the old form names the macro's parameters
        assert change.call[0].startswith(change.symbol + "(")
