"""`kmodtui inspect` says what modprobe, modinfo and modpost say about the same .ko files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.elf.module import read_module
from kmodtui.core.errors import KmodError
from kmodtui.core.model import crc_hex
from kmodtui.core.symvers.parse import read_symvers
from tests.realtools import BuiltModules, require_tool, run, run_ok


def kmodtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True)


def dump_modversions(path: Path) -> list[tuple[str, str]]:
    """modprobe --dump-modversions prints `0x%08x<TAB>symbol` per __versions record."""
    out = run_ok([require_tool("modprobe"), "--dump-modversions", str(path)]).stdout
    return [(line.split("\t")[1], line.split("\t")[0]) for line in out.splitlines() if line]


def modinfo_field(path: Path, field: str) -> list[str]:
    out = run_ok([require_tool("modinfo"), "-F", field, str(path)]).stdout
    return [line for line in out.splitlines()]


@pytest.mark.parametrize("which", ["provider_ko", "consumer_ko"])
def test_imports_match_modprobe_dump_modversions(built: BuiltModules, which: str) -> None:
    path = getattr(built, which)
    module = read_module(path)
    assert [(n.name, crc_hex(n.crc)) for n in module.needs] == dump_modversions(path)


def test_exports_match_the_module_symvers_modpost_wrote(built: BuiltModules) -> None:
    written = read_symvers(built.provider_symvers)
    module = read_module(built.provider_ko)
    ours = {(e.name, e.crc, e.gpl_only, e.namespace) for e in module.exports}
    modpost = {(e.name, e.crc, e.gpl_only, e.namespace) for e in written.entries}
    assert ours == modpost
    assert any(e.namespace == "KMODTUI_NS" for e in module.exports)


@pytest.mark.parametrize("which", ["provider_ko", "consumer_ko"])
def test_modinfo_fields_match_modinfo(built: BuiltModules, which: str) -> None:
    path = getattr(built, which)
    module = read_module(path)
    assert [module.name] == modinfo_field(path, "name")
    assert [module.license] == modinfo_field(path, "license")
    assert [module.srcversion] == modinfo_field(path, "srcversion")
    assert list(module.import_ns) == modinfo_field(path, "import_ns")
    assert [",".join(module.depends)] == modinfo_field(path, "depends")
    # modinfo prints vermagic as stored, with its trailing space
    assert [module.vermagic] == [v.strip() for v in modinfo_field(path, "vermagic")]


@pytest.mark.parametrize("tool,suffix", [("gzip", ".gz"), ("xz", ".xz"), ("zstd", ".zst")])
def test_compressed_modules_read_like_the_uncompressed_one(built: BuiltModules, tmp_path: Path, tool: str, suffix: str) -> None:
    plain = tmp_path / "consumer.ko"
    shutil.copy(built.consumer_ko, plain)
    run_ok([require_tool(tool), "-q", str(plain)] if tool != "zstd" else [require_tool(tool), "-q", "--rm", str(plain)])
    compressed = tmp_path / f"consumer.ko{suffix}"
    module = read_module(compressed)
    assert module.compression == {"gzip": "gzip", "xz": "xz", "zstd": "zstd"}[tool]
    assert module.needs == read_module(built.consumer_ko).needs
    if suffix != ".gz":  # Debian's kmod is built without zlib, so modprobe cannot read .ko.gz
        assert [(n.name, crc_hex(n.crc)) for n in module.needs] == dump_modversions(compressed)


def test_signed_module_is_reported_signed_like_modinfo(built: BuiltModules, installed_kernel, tmp_path: Path) -> None:
    openssl = require_tool("openssl")
    sign_file = Path(installed_kernel.build_dir) / "scripts" / "sign-file"
    if not sign_file.exists():
        pytest.skip("the headers have no scripts/sign-file")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.der"
    run_ok([openssl, "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "1", "-batch", "-x509",
            "-subj", "/CN=kmodtui throwaway test key", "-outform", "DER", "-out", str(cert),
            "-keyout", str(key), "-newkey", "rsa:2048"])
    signed = tmp_path / "provider.ko"
    shutil.copy(built.provider_ko, signed)
    run_ok([str(sign_file), "sha256", str(key), str(cert), str(signed)])
    module = read_module(signed)
    assert module.signed and module.signature is not None
    assert [module.signature.id_type] == modinfo_field(signed, "sig_id")
    # the signature must not disturb what is read from the ELF part
    assert module.exports == read_module(built.provider_ko).exports


def test_cli_inspect_json_has_the_documented_shape(built: BuiltModules) -> None:
    result = kmodtui("inspect", "--json", str(built.provider_ko), str(built.consumer_ko))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["schema_version"] == 2
    provider, consumer = payload["modules"]
    assert provider["name"] == "provider" and consumer["depends"] == ["provider"]
    assert {"name", "crc", "gpl_only", "namespace"} == set(provider["exports"][0])
    assert all(i["crc"].startswith("0x") and len(i["crc"]) == 10 for i in consumer["imports"])


def test_truncated_module_is_one_clear_line_and_exit_2(built: BuiltModules, tmp_path: Path) -> None:
    data = built.consumer_ko.read_bytes()
    cases = {
        "truncated.ko": data[: len(data) // 3],
        "header-only.ko": data[:40],
        "empty.ko": b"",
        "text.ko": b"this is not a module\n",
        "bad.ko.xz": b"\xfd7zXZ\x00" + b"junk" * 10,
        "bad.ko.zst": b"\x28\xb5\x2f\xfd" + b"junk" * 10,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(KmodError):
            read_module(path)
        result = kmodtui("inspect", str(path))
        assert result.returncode == 2, (name, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"kmodtui: {path}: "), (name, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_good_module_still_reported_beside_a_bad_one(built: BuiltModules, tmp_path: Path) -> None:
    bad = tmp_path / "bad.ko"
    bad.write_bytes(b"\x7fELF" + b"\0" * 10)
    result = kmodtui("inspect", "--json", str(built.provider_ko), str(bad))
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert [m["name"] for m in payload["modules"]] == ["provider"]
    assert payload["errors"][0]["path"] == str(bad)


def test_an_assembled_module_still_reported_beside_a_bad_one(tmp_path: Path) -> None:
    """The same with a provider assembled by `as`: hermetic."""
    from tests.synthetic import Assembled, ExportSpec

    good = Assembled("provider").exporting(ExportSpec("provider_fn", 0xF96CAA5E)).assemble(tmp_path)
    bad = tmp_path / "bad.ko"
    bad.write_bytes(b"\x7fELF" + b"\0" * 10)
    result = kmodtui("inspect", "--json", str(good), str(bad))
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert [m["name"] for m in payload["modules"]] == ["provider"]
    assert payload["errors"][0]["path"] == str(bad)


def test_depmod_reads_the_same_module_names_and_exports(built: BuiltModules, tmp_path: Path) -> None:
    """depmod -n prints modules.symbols (`alias symbol:<sym> <module>`) for the exports it found."""
    depmod = require_tool("depmod")
    release = "0.0.0-kmodtui"
    moddir = tmp_path / "lib" / "modules" / release / "extra"
    moddir.mkdir(parents=True)
    shutil.copy(built.provider_ko, moddir)
    confdir = tmp_path / "depmod.d"
    confdir.mkdir()
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        (moddir.parent / name).write_text("")
    out = run([depmod, "-b", str(tmp_path), "-C", str(confdir), "-n", release]).stdout
    depmod_exports = {line.split()[1].removeprefix("symbol:") for line in out.splitlines() if line.startswith("alias symbol:")}
    assert depmod_exports == {e.name for e in read_module(built.provider_ko).exports}
