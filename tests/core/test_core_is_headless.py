"""The core must run on a build host with no terminal UI: importing it never pulls in textual or rich."""

import pkgutil
import subprocess
import sys

import kmodtui.core


def core_modules() -> list[str]:
    # _kscan is the C scanner, loaded with ctypes, not a Python module.
    return sorted(m.name for m in pkgutil.walk_packages(kmodtui.core.__path__, "kmodtui.core.")
                  if not m.name.endswith("._kscan"))


UI_IMPORTED = ("ui = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') "
               "or m.startswith(('kmodtui.screens', 'kmodtui.widgets', 'kmodtui.app')))\n")


def imports_ui(*modules: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter imports `modules`, then fails naming any UI module they pulled in."""
    code = f"import sys, {', '.join(modules)}\n{UI_IMPORTED}assert not ui, ui\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_every_core_module_imports_without_textual_or_rich() -> None:
    modules = core_modules()
    assert "kmodtui.core.elf.module" in modules and "kmodtui.core.kernels.discover" in modules
    # one interpreter imports them all: none pulled in the UI, so none does alone (an import is the same
    # whoever asks first); only when one did is each asked alone, to name it
    if imports_ui(*modules).returncode == 0:
        return
    for module in modules:
        result = imports_ui(module)
        assert result.returncode == 0, f"{module} pulls in the UI: {result.stderr}"


def test_cli_verbs_do_not_import_the_ui() -> None:
    code = (
        "import sys\nfrom kmodtui.cli import main\n"
        "main(['kernels', '--json', '--root', '/nonexistent-root'])\n"
        "assert 'textual' not in sys.modules and 'rich' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
