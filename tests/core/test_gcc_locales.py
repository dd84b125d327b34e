"""gcc and make in other languages: the real gcc and make of this machine, run in German, French,
Spanish, Chinese, Japanese and Russian (locales made here with localedef; gcc's and make's own
translations), on a missing kernel header, a function the kernel removed, an undeclared name, a
missing object and a missing kernel build directory. `diagnose` and the build screen's scan name each
failure as they name the English one (C locale), with the same rule; and a line pasted with
typographic quotes (‘ ’ “ ”, as gcc prints them in UTF-8 and forums turn ASCII quotes into) too."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kmodtui.core.build.logscan import scan_line
from kmodtui.core.diagnose import diagnose_text
from tests.realtools import missing, require_tool

LANGUAGES = {"de_DE": "de", "fr_FR": "fr", "es_ES": "es", "zh_CN": "zh_CN", "ja_JP": "ja", "ru_RU": "ru"}
SOURCES = {
    "header.c": "#include <linux/kmodtui_gone.h>\n",
    "removed.c": "struct t { int x; };\n"
                 "int f(struct t *t) { return from_timer(t, t, x) != 0; }\n",
    "undeclared.c": "int f(void) { return kmodtui_gone_value; }\n",
}


@pytest.fixture(scope="module")
def locales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    localedef = require_tool("localedef")
    root = tmp_path_factory.mktemp("locales")
    for name, language in LANGUAGES.items():
        if not Path(f"/usr/share/i18n/locales/{name}").exists():
            missing(f"the {name} locale's source is not installed (Debian: locales; Fedora: glibc-locale-source)")
        if not any(Path("/usr/share/locale", language, "LC_MESSAGES").glob("gcc*.mo")):
            missing("gcc's translations are not installed (Debian: gcc-N-locales for the gcc in use)")
        result = subprocess.run([localedef, "-i", name, "-f", "UTF-8", str(root / f"{name}.UTF-8")],
                                capture_output=True, text=True)
        assert (root / f"{name}.UTF-8").is_dir(), result.stderr
    return root


def _run(cmd: list[str], locales: Path, locale: str, cwd: Path) -> str:
    env = {**os.environ, "LOCPATH": str(locales), "LC_ALL": f"{locale}.UTF-8" if locale != "C" else "C",
           "LANGUAGE": "", "GCC_URLS": "no", "GCC_COLORS": ""}
    env.pop("LANG", None)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    assert result.returncode != 0, result
    return result.stdout + result.stderr


def _outputs(locales: Path, locale: str, work: Path) -> dict[str, str]:
    gcc, make = require_tool("gcc"), require_tool("make")
    for name, text in SOURCES.items():
        (work / name).write_text(text)
    (work / "Makefile").write_text("all: kmodtui_gone.o\n")
    said = {name: _run([gcc, "-std=gnu11", "-Werror=implicit-function-declaration", "-c", name, "-o", "/dev/null"],
                       locales, locale, work) for name in SOURCES}
    said["no-rule"] = _run([make], locales, locale, work)
    said["no-build-dir"] = _run([make, "-C", "/lib/modules/0.0.0-kmodtui/build"], locales, locale, work)
    return said


def _named(output: str) -> tuple[str, str]:
    primary = diagnose_text(output).primary
    assert primary is not None, output
    line = next(n for n, text in enumerate(output.splitlines(), 1) if text == primary.line)
    finding = scan_line(primary.line, line)
    assert finding is not None and finding.rule == primary.rule, (output, finding)  # one table, both paths
    return primary.cause.value, primary.rule


@pytest.mark.slow  # localedef makes six locales (~30 s on a loaded 2-core machine)
@pytest.mark.parametrize("locale", list(LANGUAGES))
def test_gcc_and_make_in_another_language_get_the_english_diagnosis(locale: str, locales: Path, tmp_path: Path) -> None:
    for name in ("C", locale):
        (tmp_path / name).mkdir()
    english, translated = _outputs(locales, "C", tmp_path / "C"), _outputs(locales, locale, tmp_path / locale)
    assert translated["header.c"] != english["header.c"], "gcc did not print the translation"
    expected = {"header.c": ("kernel_api_change", "c-missing-header"),
                "removed.c": ("kernel_api_change", "c-implicit-declaration"),
                "undeclared.c": ("kernel_api_change", "c-api-change"),
                "no-rule": ("headers_incomplete", "make-no-rule"),
                "no-build-dir": ("headers_missing", "kbuild-no-build-dir")}
    for name, output in english.items():
        assert _named(output) == expected[name], (name, output)
    for name, output in translated.items():
        assert _named(output) == expected[name], (locale, name, output)
    removed = diagnose_text(translated["removed.c"]).primary
    assert removed is not None and removed.detail("function") == "from_timer"
    assert diagnose_text(translated["header.c"]).primary.detail("header") == "linux/kmodtui_gone.h"


@pytest.mark.parametrize("line, cause", [
    # the real lines of the corpus, their quotes as gcc prints them in UTF-8 and as a forum turns ASCII into
    ("xpad.c:851:33: error: implicit declaration of function \u2018from_timer\u2019", "kernel_api_change"),
    ('ERROR: modpost: \u201cdrm_fbdev_ttm_setup\u201d [/var/lib/dkms/nvidia/560.35.03/build/kernel-open/nvidia-drm.ko] '
     'undefined!', "modpost_undefined"),
    ("ERROR: modpost: GPL-incompatible module gdrdrv.ko uses GPL-only symbol \u2018cc_mkdec\u2019", "gpl_only_symbol"),
    ("make[2]: *** No rule to make target \u2018tools/objtool/objtool\u2019, needed by \u2018modules\u2019.  Stop.",
     "headers_incomplete"),
    ("find: \u2018/var/lib/dkms/xtables-addons\u2019: No such file or directory", "dkms_dependency_missing"),
    ("corefreqk: version magic \u20185.10.11-200.fc33.x86_64 SMP mod_unload \u2019 should be "
     "\u20185.10.12-200.fc33.x86_64 SMP mod_unload \u2019", "stale_module"),
])
def test_typographic_quotes_read_as_ascii_ones(line: str, cause: str) -> None:
    primary = diagnose_text(line).primary
    assert primary is not None and primary.cause.value == cause, (line, primary)
    finding = scan_line(line, 1)
    assert finding is not None and finding.rule == primary.rule
