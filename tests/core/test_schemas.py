"""Every verb's --json output, from real runs on real modules, packages and builds, validates against
its JSON Schema in schema/ (the contract scripts and build farms read)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from kmodtui.core.model import Kernel
from tests.pkgtools import build_deb, build_kmod_rpm
from tests.realtools import BuiltModules, copy_source, require_tool

SCHEMAS = Path(__file__).resolve().parent.parent.parent / "schema"
LOGS = Path(__file__).resolve().parent.parent / "logs"


def schema(name: str) -> dict:
    document = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return document


def validate(name: str, payload: object) -> None:
    jsonschema.validate(payload, schema(name), cls=jsonschema.Draft202012Validator)


def kmodtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def json_of(*args: str, env: dict[str, str] | None = None) -> dict:
    result = kmodtui(*args, env=env)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def lines_of(*args: str, env: dict[str, str] | None = None) -> list[dict]:
    result = kmodtui(*args, env=env)
    assert result.returncode in (0, 1), result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def test_every_schema_is_a_valid_schema_and_every_verb_has_one() -> None:
    from kmodtui.cli import VERBS

    names = {p.stem for p in SCHEMAS.glob("*.json")}
    for name in names:
        schema(name)
    # every verb that prints JSON (attach and serve open the UI)
    assert set(VERBS) - {"attach", "serve"} <= {n.split("-line")[0].replace("build-event", "build") for n in names}


def test_facts_verbs(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    validate("kernels", json_of("kernels", "--json"))
    rpm = build_kmod_rpm(tmp_path / "rpm", "kmod-provider", [built.provider_ko], installed_kernel.release,
                         generator="redhat", kernel_symvers=installed_kernel.symvers_path)
    deb = build_deb(tmp_path, "provider-modules", "1.0", {f"/lib/modules/{installed_kernel.release}/updates/provider.ko":
                                                          built.provider_ko})
    validate("inspect", json_of("inspect", "--json", str(built.provider_ko), str(built.consumer_ko), str(rpm), str(deb)))
    validate("source", json_of("source", "--json", str(copy_source("provider", tmp_path / "src"))))
    validate("rpmdeps", json_of("rpmdeps", "--provides", "--json", str(built.provider_ko)))
    validate("rpmdeps", json_of("rpmdeps", "--predict", "redhat", "--json", str(built.provider_ko)))


def test_resolve_json_and_jsonl(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    unknown = json_of("resolve", "--json", str(built.consumer_ko), "--kernel", installed_kernel.release)
    validate("resolve", unknown)
    assert {f["status"] for f in unknown["findings"]} == {"ok", "unknown_symbol"}  # a .ko: every row
    first = next(f for f in unknown["findings"] if f["status"] == "unknown_symbol")
    words = {"symbol": first["symbol"], "provider": first["provider"], "crc": first["crc"] or "",
             "provided_crc": first["provided_crc"] or "", **first["words"]}
    text = unknown["explanations"][first["explanation_id"]].format(**words)
    assert text.startswith(f"Nothing provides {first['symbol']}: neither the kernel ({installed_kernel.release})")
    directory = json_of("resolve", "--json", str(built.consumer_dir), "--kernel", installed_kernel.release)
    assert {f["status"] for f in directory["findings"]} == {"unknown_symbol"}  # a directory: its problems
    everything = json_of("resolve", "--json", "--all", str(built.consumer_dir), "--kernel", installed_kernel.release)
    assert len(everything["findings"]) == len(unknown["findings"])
    lines = lines_of("resolve", "--jsonl", str(built.consumer_ko), "--kernel", installed_kernel.release)
    for line in lines:
        validate("resolve-line", line)
    assert lines[0]["schema_version"] and len(lines) == 1 + len(unknown["findings"])
    # package findings: the symbol is the symbol, the dependency its own field
    from tests.pkgtools import build_kernel_provides_rpm

    provider_rpm = build_kmod_rpm(tmp_path / "p", "kmod-provider", [built.provider_ko], installed_kernel.release,
                                  generator="internal")
    consumer_rpm = build_kmod_rpm(tmp_path / "c", "kmod-consumer", [built.consumer_ko], installed_kernel.release,
                                  generator="kmodtui")
    kernel_rpm = build_kernel_provides_rpm(tmp_path / "k", installed_kernel.release, installed_kernel.symvers_path)
    packages = json_of("resolve", "--json", str(consumer_rpm), "--extra-symbols", str(provider_rpm),
                       "--extra-symbols", str(kernel_rpm), "--kernel", installed_kernel.release)
    validate("resolve", packages)
    not_packaged = [f for f in packages["findings"] if f["status"] == "not_packaged"]
    assert {f["symbol"] for f in not_packaged} == {"provider_fn", "provider_gpl_fn", "provider_ns_fn"}
    assert all(f["requirement"].startswith(f"ksym({f['symbol']}) = 0x") for f in not_packaged)


def test_resolve_json_and_jsonl_of_every_kind_of_problem(tmp_path: Path) -> None:
    """resolve --json, --json --all and --jsonl on assembled modules with every kind of problem
    against a synthetic kernel Module.symvers validate, and every problem's explanation template
    fills from the finding and its words alone (hermetic: resolve's contract in the quick tier)."""
    from tests.synthetic import every_problem_tree

    targets = every_problem_tree(tmp_path)
    kernel = str(tmp_path / "kernel.symvers")
    problems = json_of("resolve", "--json", str(targets), "--kernel", kernel)
    validate("resolve", problems)
    assert {f["status"] for f in problems["findings"]} == {"unreadable", "unknown_symbol", "crc_mismatch",
                                                           "namespace_not_imported", "gpl_only"}
    for finding in problems["findings"]:
        if "explanation_id" in finding:
            words = {"symbol": finding["symbol"], "provider": finding["provider"], "crc": finding["crc"] or "",
                     "provided_crc": finding["provided_crc"] or "", **finding["words"]}
            assert finding["symbol"] in problems["explanations"][finding["explanation_id"]].format(**words)
    everything = json_of("resolve", "--json", "--all", str(targets), "--kernel", kernel)
    validate("resolve", everything)
    assert {f["status"] for f in everything["findings"]} == {f["status"] for f in problems["findings"]} | {"ok"}
    lines = lines_of("resolve", "--jsonl", "--all", str(targets), "--kernel", kernel)
    for line in lines:
        validate("resolve-line", line)
    assert lines[0]["schema_version"] and len(lines) == 1 + len(everything["findings"])


def test_build_builds_diagnose_and_check_update(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    source = copy_source("consumer", tmp_path / "consumer")
    for event in lines_of("build", "--json", "--source", str(source), "--kernel", installed_kernel.release, env=env):
        validate("build-event", event)
    detached = json_of("build", "--json", "--detach", "--source", str(copy_source("provider", tmp_path / "p")),
                       "--kernel", installed_kernel.release, env=env)
    validate("build-event", detached)
    validate("builds", json_of("builds", "--json", env=env))
    for log in sorted(LOGS.glob("0[0-2]*.log")):
        validate("diagnose", json_of("diagnose", "--json", str(log)))
    validate("check-update", json_of("check-update", "--json", "--new-kernel", installed_kernel.release, "--modules",
                                     str(built.provider_ko)))


def test_remedy_hook_sign_and_userspace(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    validate("remedy", json_of("remedy", "list", "--json", env=env))
    source = copy_source("consumer", tmp_path / "consumer")
    args = ("import-namespace", "--target", str(source), "--symbol", "provider_ns_fn", "--namespace", "OTHER_NS")
    validate("remedy", json_of("remedy", "show", *args, "--json", env=env))
    validate("remedy", json_of("remedy", "apply", *args, "--yes", "--json", env=env))
    validate("remedy", json_of("remedy", "history", "--json", env=env))
    validate("remedy", json_of("remedy", "undo", "--json", env=env))
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    validate("hook", json_of("hook", "show", "--source", str(source), "--root", str(root), "--json", env=env))
    validate("hook", json_of("hook", "install", "--source", str(source), "--root", str(root), "--yes", "--json",
                             env=env))
    tools = build_deb(tmp_path, "kmodtui-provider-utils", "1.0-1", {"/usr/sbin/provider-tool": b"#!/bin/sh\n"})
    validate("check-userspace", json_of("check-userspace", "--module", str(built.provider_ko), "--tools", str(tools),
                                        "--json"))
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: apt-get install openssl")
    require_tool("openssl")
    module = tmp_path / "provider.ko"
    shutil.copy(built.provider_ko, module)
    validate("sign", json_of("sign", str(module), "--new-key", str(tmp_path / "keys"), "--kernel",
                             installed_kernel.release, "--json"))


def test_the_fast_json_of_problem_rows_is_the_findings_json(built: BuiltModules, installed_kernel: Kernel,
                                                           tmp_path: Path) -> None:
    """resolve --json writes problem rows without making their Findings; the objects must be the ones
    finding_json(explain(row)) gives, for every kind of problem (unknown, CRC, namespace, GPL-only)."""
    from kmodtui.core.report.findings import (
        json_array_chunks,
        problem_rows_json,
        problem_rows_json_pieces,
    )
    from kmodtui.core.report.render import finding_json
    from kmodtui.core.resolve.engine import resolve
    from kmodtui.core.resolve.explain import explain
    from tests.findingforms import problem_row_json, problem_rows_json_bytes
    from tests.realtools import copy_source, kbuild

    results = [resolve([str(built.consumer_ko)], installed_kernel)]  # unknown symbols
    # another build of the provider, with another prototype: the CRC of provider_fn differs
    other = copy_source("provider", tmp_path / "other", {"int provider_fn(int x)": "long provider_fn(long x)"})
    kbuild(installed_kernel.build_dir, other)
    results.append(resolve([str(built.consumer_ko)], installed_kernel, [str(other / "provider.ko")]))
    extra = f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}"
    for name, edit in (("no-import", {"MODULE_IMPORT_NS(KMODTUI_NS);": ""}),  # namespace_not_imported
                       ("proprietary", {'MODULE_LICENSE("GPL")': 'MODULE_LICENSE("Proprietary")'})):  # gpl_only
        consumer = copy_source("consumer", tmp_path / name, edit)
        kbuild(installed_kernel.build_dir, consumer, extra)  # modpost refuses, the .ko is still written
        if (consumer / "consumer.ko").exists():
            results.append(resolve([str(consumer / "consumer.ko")], installed_kernel, [str(built.provider_ko)]))
    statuses = set()
    for result in results:
        release = result.kernel.release if result.kernel else "the kernel"
        expected = [finding_json(explain(row, release)) for row in result.problem_rows]
        assert [problem_row_json(row, release) for row in result.problem_rows] == expected
        assert list(problem_rows_json(result.problem_rows, release)) == expected
        assert json.loads(problem_rows_json_bytes(result.problem_rows, release,
                                                  lambda v: json.dumps(v).encode())) == expected
        # as resolve --json streams it: chunks of pieces, here one finding each
        pieces = problem_rows_json_pieces(result.problem_rows, release, lambda v: json.dumps(v).encode())
        assert json.loads(b"".join(json_array_chunks(pieces, chunk=1))) == expected
        statuses |= {row[2] for row in result.problem_rows}
    print("problem kinds compared:", sorted(statuses))
    assert {"unknown_symbol", "crc_mismatch"} <= statuses, statuses


def test_a_large_json_answer_is_compact_cached_and_the_same(built: BuiltModules, installed_kernel: Kernel,
                                                            tmp_path: Path) -> None:
    """Past KMODTUI_JSON_LARGE findings, resolve --json is compact and its findings array is kept with
    the cached result; the next run writes those bytes: the same answer, from_cache true."""
    args = ("resolve", "--json", str(built.consumer_dir), "--kernel", installed_kernel.release)
    env = {"KMODTUI_CACHE_DIR": str(tmp_path / "cache")}
    pretty = json_of(*args, env={**env, "KMODTUI_CACHE_DIR": str(tmp_path / "other-cache")})
    first = json_of(*args, env={**env, "KMODTUI_JSON_LARGE": "0"})
    second_raw = kmodtui(*args, env={**env, "KMODTUI_JSON_LARGE": "0"}).stdout
    second = json.loads(second_raw)
    assert first["findings"] == second["findings"] == pretty["findings"]
    assert not first["summary"]["from_cache"] and second["summary"]["from_cache"]
    assert "\n  " not in second_raw  # compact
    validate("resolve", second)


def test_a_large_json_answer_cut_short_by_a_closed_pipe_is_not_kept(built: BuiltModules, installed_kernel: Kernel,
                                                                     tmp_path: Path) -> None:
    """The findings array goes to stdout and to the cache as it is made; when the reader goes away
    halfway (`| head`), what was cached so far must not become the next run's answer."""
    tree = tmp_path / "tree"
    tree.mkdir()
    for n in range(300):  # more findings than a pipe holds (64 KiB): the writer meets the closed end
        shutil.copy(built.consumer_ko, tree / f"consumer{n}.ko")
    env = {**os.environ, "KMODTUI_CACHE_DIR": str(tmp_path / "cache"), "KMODTUI_JSON_LARGE": "0"}
    cli = [sys.executable, "-m", "kmodtui", "resolve", "--json", str(tree), "--kernel", installed_kernel.release]
    reader = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert reader.stdout is not None
    reader.stdout.read(40)
    reader.stdout.close()  # the reader leaves before the findings
    reader.wait(timeout=120)
    assert not list((tmp_path / "cache").rglob("*.json")) and not list((tmp_path / "cache").rglob("*.tmp"))
    answer = json.loads(subprocess.run(cli, capture_output=True, env=env, check=False).stdout)
    assert answer["summary"]["from_cache"]  # the result was kept; its JSON is made anew, whole
    plain = json_of("resolve", "--json", str(tree), "--kernel", installed_kernel.release, "--no-cache")
    assert answer["findings"] == plain["findings"] and len(answer["findings"]) >= 300
