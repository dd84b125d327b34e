"""JSON (a stable, documented contract) and plain-text renderings of core facts."""

from __future__ import annotations

from typing import Any

from kmodtui.core.model import Kernel, ModuleImage, crc_hex

SCHEMA_VERSION = 1


def _crc_or_none(crc: int | None) -> str | None:
    return None if crc is None else crc_hex(crc)


def kernel_json(kernel: Kernel) -> dict[str, Any]:
    return {
        "release": kernel.release,
        "arch": kernel.arch,
        "kbuild_arch": kernel.kbuild_arch,
        "flavor": kernel.flavor,
        "build_dir": kernel.build_dir,
        "symvers_path": kernel.symvers_path,
        "modversions": kernel.modversions,
        "module_sig": kernel.module_sig,
        "module_sig_force": kernel.module_sig_force,
        "module_compression": kernel.module_compression,
        "compiler": kernel.compiler,
        "compiler_command": kernel.compiler_command,
        "host_compiler": kernel.host_compiler,
        "compiler_matches": kernel.compiler_matches,
        "origin": kernel.origin,
        "notes": list(kernel.notes),
    }


def module_json(module: ModuleImage) -> dict[str, Any]:
    return {
        "path": module.path,
        "name": module.name,
        "vermagic": module.vermagic,
        "license": module.license,
        "depends": list(module.depends),
        "srcversion": module.srcversion,
        "import_ns": list(module.import_ns),
        "signed": module.signed,
        "sig_id": module.signature.id_type if module.signature else None,
        "compression": module.compression,
        "elf_class": module.elf_class,
        "machine": module.machine,
        "imports": [{"name": n.name, "crc": crc_hex(n.crc)} for n in module.needs],
        "exports": [
            {"name": e.name, "crc": _crc_or_none(e.crc), "gpl_only": e.gpl_only, "namespace": e.namespace}
            for e in module.exports
        ],
    }


def kernel_text(kernel: Kernel) -> str:
    def yn(value: bool | None) -> str:
        return "unknown" if value is None else ("yes" if value else "no")

    compiler_line = kernel.compiler or "unknown"
    if kernel.host_compiler and not kernel.compiler_matches:
        compiler_line += f"  (here: {kernel.host_compiler} — differs)"
    elif not kernel.host_compiler:
        compiler_line += f"  (here: {kernel.compiler_command or 'compiler'} not installed)"
    lines = [
        f"{kernel.release}  [{kernel.arch or '?'}, flavor {kernel.flavor or 'none'}, {kernel.origin}]",
        f"  build dir:   {kernel.build_dir or '-'}",
        f"  symvers:     {kernel.symvers_path or 'missing'}",
        f"  modversions: {yn(kernel.modversions)}   module signing: {yn(kernel.module_sig)}"
        f"   compression: {kernel.module_compression or 'unknown'}",
        f"  compiler:    {compiler_line}",
    ]
    lines += [f"  note:        {note}" for note in kernel.notes]
    return "\n".join(lines)


def module_text(module: ModuleImage) -> str:
    sig = f"signed ({module.signature.id_type})" if module.signature else "not signed"
    lines = [
        f"{module.path}",
        f"  name {module.name}, {module.machine} ELF{module.elf_class}, {sig}, compression {module.compression}",
        f"  vermagic:   {module.vermagic}",
        f"  license:    {module.license}",
        f"  depends:    {', '.join(module.depends) or '-'}",
        f"  import_ns:  {', '.join(module.import_ns) or '-'}",
        f"  srcversion: {module.srcversion or '-'}",
        f"  imports ({len(module.needs)}):",
    ]
    lines += [f"    {crc_hex(n.crc)}  {n.name}" for n in module.needs]
    lines.append(f"  exports ({len(module.exports)}):")
    for e in module.exports:
        extra = (" GPL-only" if e.gpl_only else "") + (f" namespace {e.namespace}" if e.namespace else "")
        lines.append(f"    {_crc_or_none(e.crc) or 'no CRC   '}  {e.name}{extra}")
    return "\n".join(lines)
