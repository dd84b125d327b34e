"""What to build: a BuildRequest names the source, the kernel, the packaging mode and its options.

Every build keeps its request beside its log (`request.json` in the build's record), so a detached
runner builds exactly what the TUI or the CLI asked for (nothing is re-assembled from command-line
words), and a rebuild after a remedy re-runs the very build the remedy came from: same source,
kernel, mode and options.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from typing import Any

from kmodtui.core import scriptnames
from kmodtui.core.build import modes
from kmodtui.core.build.inputs import BuildRequest
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel

REQUEST_FILE = "request.json"
REQUEST_FORMAT = 1


def kernel_from_spec(spec: str) -> Kernel:
    """A release, build dir, symvers file, or a headers package (.deb/.rpm, unpacked into the cache)."""
    from kmodtui.core.kernels.discover import find_kernel

    if spec.endswith((".deb", ".rpm")) and os.path.isfile(spec):
        from kmodtui.core.kernels.unpack import unpack_kernel_package
        from kmodtui.core.paths import cache_dir

        return unpack_kernel_package(spec, cache_dir())[0]
    if spec.startswith("debian:"):  # debian:trixie[:arm64]: that release's current kernel, from the archive
        from kmodtui.core.kernels.debian_archive import headers_of_latest
        from kmodtui.core.kernels.unpack import kernel_from_headers
        from kmodtui.core.paths import cache_dir

        return kernel_from_headers(headers_of_latest(spec), cache_dir(), spec)
    return find_kernel(spec)


def make_request(source: str, kernel_spec: str, mode: str = "kbuild", **options: Any) -> BuildRequest:
    """A request from the words a person gives (a source path, a kernel as `build --kernel` takes it)."""
    modes.get(mode)  # one clear line for a mode that does not exist, before any kernel is looked for
    kernel = kernel_from_spec(kernel_spec)
    extra = tuple(os.path.abspath(p) for p in options.pop("extra_symbols", ()) or ())
    options["providers"] = tuple(dict.fromkeys(os.path.abspath(p) for p in options.pop("providers", ()) or ()))
    from kmodtui.core.build.confine import no_sandbox_reason

    options["no_sandbox"] = no_sandbox_reason(bool(options.pop("no_sandbox", False)))
    for path in extra:  # make expands $(...) in KBUILD_EXTRA_SYMBOLS, and splits it at spaces
        scriptnames.check(scriptnames.PATH, path, path)
    return BuildRequest(os.path.abspath(source), kernel, mode, extra_symbols=extra,
                        kernel_spec=kernel_spec if os.path.sep not in kernel_spec else os.path.abspath(kernel_spec),
                        **options)


def request_json(request: BuildRequest) -> dict[str, Any]:
    return {
        "format": REQUEST_FORMAT,
        "source": request.source,
        "kernel": request.kernel_spec or request.kernel.build_dir or request.kernel.release,
        "release": request.kernel.release,
        "mode": request.mode,
        "extra_symbols": list(request.extra_symbols),
        "providers": list(request.providers),
        "arch": request.arch,
        "deb_depends": request.deb_depends,
        "version": request.version,
        "sign": request.sign,
        "sign_modules": request.sign_modules,
        "timeout": request.timeout,
        "no_sandbox": request.no_sandbox,
    }


def save_request(record_dir: str, request: BuildRequest) -> None:
    """request.json, written atomically."""
    path = os.path.join(record_dir, REQUEST_FILE)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(request_json(request), f, indent=2)
    os.replace(tmp, path)


_TYPES: dict[str, Any] = {"source": str, "kernel": str, "mode": str, "extra_symbols": list, "arch": str,
                          "deb_depends": (str, type(None)), "version": str, "sign": bool,
                          "timeout": (int, float, type(None))}


def load_request(record_dir: str) -> BuildRequest:
    """The request a build was made from; one clear error when it is missing or malformed."""
    path = os.path.join(record_dir, REQUEST_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise KmodError(path, "this build has no stored request (it was made by an older kmodtui)") from None
    except (OSError, ValueError, RecursionError) as err:
        raise KmodError(path, f"unreadable build request: {err}") from None
    if not isinstance(data, dict) or data.get("format") != REQUEST_FORMAT:
        raise KmodError(path, "not a build request kmodtui wrote")
    for key, kind in _TYPES.items():
        if not isinstance(data.get(key), kind) or (kind is not bool and isinstance(data.get(key), bool)):
            raise KmodError(path, f"build request field {key!r} is missing or of the wrong type")
    if not all(isinstance(p, str) for p in data["extra_symbols"]):
        raise KmodError(path, "build request field 'extra_symbols' must list paths")
    kernel = kernel_from_spec(data["kernel"])
    known = {f.name for f in fields(BuildRequest)}
    options: dict[str, Any] = {k: data[k] for k in ("arch", "deb_depends", "version", "sign", "timeout") if k in known}
    if isinstance(data.get("sign_modules"), bool):  # absent in requests stored before it existed
        options["sign_modules"] = data["sign_modules"]
    providers = data.get("providers", [])  # absent in requests stored before providers were recorded
    if not isinstance(providers, list) or not all(isinstance(p, str) for p in providers):
        raise KmodError(path, "build request field 'providers' must list source folders")
    options["providers"] = tuple(providers)
    if isinstance(data.get("no_sandbox"), str):  # absent before builds were confined: confined
        options["no_sandbox"] = data["no_sandbox"][:300]
    return BuildRequest(data["source"], kernel, data["mode"], tuple(data["extra_symbols"]),
                        kernel_spec=data["kernel"], **options)

