"""The JSON of resolve's findings: one encoder for problem rows, in two forms, and the findings array
of a resolve as objects or as the chunks of a whole tree's answer.

A problem row's object is three parts, each made once and reused:
  the head   {"module"}                                          one per module
  the middle {"symbol", "status", "crc", "provided_crc",         one per (symbol, status, CRC, provider):
              "provider", "explanation_id"}                      repeats across every module built
                                                                 against the same old headers
  the tail   {"words", "remedies"}                               one per module and status
As objects (--jsonl, a small --json) the parts are merged; as bytes (a whole tree's --json: 67k rows
against another ABI) each part is encoded once and a row is three appends. Both forms are the
object finding_json(explain(row)) gives (tests/core/test_schemas.py, test_finding_json.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from kmodtui.core.model import STATUS_NAMESPACE, STATUS_OK, crc_hex
from kmodtui.core.report.render import finding_json
from kmodtui.core.resolve.explain import (
    EXPLANATIONS,
    ProblemRow,
    explanation_id,
    provider_label,
    row_remedies,
    row_words,
)

if TYPE_CHECKING:
    from kmodtui.core.resolve.result import ResolveResult

Part = TypeVar("Part")
Dumps = Callable[[object], bytes]


def explanations_json() -> dict[str, str]:
    """The explanation templates findings refer to by explanation_id: fill {symbol}, {provider},
    {crc}, {provided_crc} from the finding and the rest from its "words"."""
    return dict(EXPLANATIONS)


def _row_parts(rows: Sequence[ProblemRow], release: str, head_of: Callable[[dict[str, Any]], Part],
               middle_of: Callable[[dict[str, Any]], Part], tail_of: Callable[[dict[str, Any]], Part],
               ) -> Iterator[tuple[Part, Part, Part]]:
    """Each row's (head, middle, tail), each part made of its fields once per key. Parts are keyed
    by the identity of the row's module and provider: `rows` holds them for the whole loop."""
    heads: dict[int, Part] = {}
    middles: dict[tuple[str, str, int, int, bool], Part] = {}
    tails: dict[tuple[int, str] | tuple[int, str, str], Part] = {}
    get_head, get_middle, get_tail = heads.get, middles.get, tails.get
    for module, symbol, status, crc, provider in rows:
        head = get_head(id(module))
        if head is None:
            head = heads[id(module)] = head_of({"module": module.path})
        # has_versions decides a CRC row's explanation_id
        middle_key = (symbol, status, crc, id(provider), module.has_versions)
        middle = get_middle(middle_key)
        if middle is None:
            middle = middles[middle_key] = middle_of({
                "symbol": symbol, "status": status, "crc": crc_hex(crc) if crc is not None else None,
                "provided_crc": crc_hex(provider.crc) if provider is not None else None,
                "provider": provider_label(provider) if provider is not None else "",
                "explanation_id": explanation_id(status, module, provider)})
        # a namespace row's words name the provider's namespace; the others' only the module's
        tail_key = ((id(module), status) if status != STATUS_NAMESPACE or provider is None
                    else (id(module), status, provider.namespace))
        tail = get_tail(tail_key)
        if tail is None:
            tail = tails[tail_key] = tail_of({"words": row_words(status, module, provider, release),
                                              "remedies": list(row_remedies(provider, status))})
        yield head, middle, tail


def _same(fields: dict[str, Any]) -> dict[str, Any]:
    return fields


def problem_rows_json(rows: Sequence[ProblemRow], release: str) -> Iterator[dict[str, Any]]:
    """Each problem row as resolve's JSON gives it, without making its Finding (and formatting its
    ~500-character explanation, which the JSON gives once as a template). The rows of one module
    share their "words" and "remedies" values: objects to encode, not to change."""
    for head, middle, tail in _row_parts(rows, release, _same, _same, _same):
        yield {**head, **middle, **tail}


def problem_rows_json_pieces(rows: Sequence[ProblemRow], release: str, dumps: Dumps) -> list[bytes]:
    """The JSON of problem_rows_json(rows), as pieces whose concatenation is the array's items, each
    followed by a comma (json_array_chunks drops the last one). `dumps` is a compact encoder: an
    object's members joined by commas are the object's bytes, so each part is encoded once, its
    braces dropped, and a row is three pieces."""
    def members(fields: dict[str, Any]) -> bytes:
        return dumps(fields)[1:-1]

    out: list[bytes] = []
    for parts in _row_parts(rows, release, lambda f: b"{" + members(f) + b",", members,
                            lambda f: b"," + members(f) + b"},"):
        out += parts
    return out


def json_array_chunks(pieces: list[bytes], chunk: int = 4096) -> Iterator[bytes]:
    """Items-with-trailing-commas pieces as one JSON array, in chunks of `chunk` pieces."""
    if not pieces:
        yield b"[]"
        return
    pieces[0] = b"[" + pieces[0]
    pieces[-1] = pieces[-1][:-1] + b"]"
    for start in range(0, len(pieces), chunk):
        yield b"".join(pieces[start : start + chunk])


def findings_json(result: ResolveResult, problems_only: bool) -> Iterator[dict[str, Any]]:
    """resolve's findings array, object by object: every finding, or the problems in
    result.problems' order, symbol rows without making their Findings (a distro tree against
    another ABI has 67k of them)."""
    if not problems_only:
        yield from map(finding_json, result.findings())
        return
    for finding in result.package_findings:
        if finding.status != STATUS_OK:
            yield finding_json(finding)
    yield from map(finding_json, result.module_problems)
    yield from problem_rows_json(result.problem_rows, _release(result))


def findings_json_chunks(result: ResolveResult, problems_only: bool, dumps: Dumps,
                         chunk: int = 4096) -> Iterator[bytes]:
    """The findings array as compact JSON, in chunks of about `chunk` findings (a whole tree's
    answer, ~25 MB, is never one bytes object: each chunk's memory is reused by the next). Problem
    rows are joined from parts encoded once (problem_rows_json_pieces), the rest go through
    `dumps`. The chunks' concatenation is one JSON array."""
    if not problems_only:
        pieces = [dumps(f) + b"," for f in findings_json(result, problems_only)]
    else:
        pieces = [dumps(finding_json(f)) + b"," for f in result.package_findings if f.status != STATUS_OK]
        pieces += [dumps(finding_json(f)) + b"," for f in result.module_problems]
        pieces += problem_rows_json_pieces(result.problem_rows, _release(result), dumps)
    return json_array_chunks(pieces, chunk)


def _release(result: ResolveResult) -> str:
    return result.kernel.release if result.kernel else "the kernel"
