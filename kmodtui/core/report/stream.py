"""Reports written as they are made, and kept beside the cached result: resolve --json (a whole
tree's answer, ~25 MB, streamed in chunks to the output and to the cache at once) and the text and
Markdown reports. A later run on identical inputs writes the kept bytes as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, BinaryIO

from kmodtui.core.report import contract
from kmodtui.core.report.encode import compact_json, encode_json, json_document
from kmodtui.core.report.findings import findings_json_chunks
from kmodtui.core.report.render import SCHEMA_VERSION

if TYPE_CHECKING:
    from kmodtui.core.paths import SealedWriter
    from kmodtui.core.resolve.result import ResolveResult

LARGE = 2000  # findings past which --json is written compact, its findings array cached with the result


def write_resolve_json(result: ResolveResult, problems_only: bool, out: BinaryIO) -> None:
    """resolve --json, to `out`. A large answer (a whole tree) is written compact, and its findings
    array is kept beside the cached result: a later run on identical inputs writes those bytes as
    they are."""
    rows = result.problem_count if problems_only else sum(result.counts.values())
    large = int(os.environ.get("KMODTUI_JSON_LARGE", LARGE))  # the tests lower it to take this path
    if rows <= large:
        out.write(json_document(contract.resolve_payload(result, problems_only)))
        return
    kind = f"findings-v{SCHEMA_VERSION}-{'problems' if problems_only else 'all'}.json"
    # the head is small: the standard library's encoder (the same bytes as orjson's here, ints and
    # text only) spares a run that writes a cached answer orjson's import (~10 ms, a tenth of it)
    head = encode_json({"schema_version": SCHEMA_VERSION, **contract.resolve_head(result)}, indent=False, small=True)
    cached = result.cached_report(kind)
    out.write(head[:-1] + b',"findings":')
    if cached is not None:
        out.write(cached)
    else:
        chunks = findings_json_chunks(result, problems_only, compact_json)
        writer = result.report_writer(kind)
        if writer is None:
            out.writelines(chunks)
        else:
            write_and_keep(chunks, out, writer)
    out.write(b"}\n")


def write_and_keep(chunks: Iterable[bytes], out: BinaryIO, writer: SealedWriter) -> None:
    """Each chunk to `out` and to the cache's writer, which a thread hashes and writes (both release
    the GIL) while the next chunk is joined. A cut-short answer (a closed pipe) is not kept."""
    import queue
    import threading

    kept: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def keep() -> None:
        for chunk in iter(kept.get, None):
            writer.write(chunk)

    keeper = threading.Thread(target=keep)
    keeper.start()
    whole = False
    try:
        for chunk in chunks:
            out.write(chunk)
            kept.put(chunk)
        whole = True
    finally:
        kept.put(None)
        keeper.join()
        writer.close() if whole else writer.abort()


def text_report(result: ResolveResult, kind: str, render: Callable[[ResolveResult], str],
                ) -> tuple[bytes | memoryview, str | None]:
    """A text or Markdown report as UTF-8 bytes: the one an earlier run rendered from identical
    inputs, or rendered now and kept. The text too when it was rendered now (None: from the cache)."""
    cached = result.cached_report(kind)
    if cached is not None:
        return cached, None
    text = render(result)
    data = text.encode("utf-8", "surrogateescape")
    result.store_report(kind, data)
    return data, text
