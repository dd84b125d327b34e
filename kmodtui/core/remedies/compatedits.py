"""The compat remedy's rewrites of one C file for one kernel API change, each driven by the change's
row in apichanges.toml (the kinds below are the only code; a new change of a known kind is a row):

  rename          the old name becomes the new one; the row's `compat` guard maps it back on older kernels
                  (`statement_only`: only calls whose value is unused, for a replacement that returns
                  something else, as strscpy() for strlcpy())
  call            `call = ["f(a, b)", "f(b)"]`: each call of f with the old number of arguments calls
                  kmodtui_f, a macro defined once per file: the new form from the change's release on,
                  the old form before it (arguments dropped, added with a known value, reordered)
  const_callback  `const_callback = "devnode"`, `const_param = "struct device"`: each function the source
                  assigns to that member gets `KMODTUI_CONST_<ID> struct device *` in its definition and
                  prototypes, `const` from the change's release on, nothing before it
  drop_initializer  `drop_initializer = true`: a line `.member = SYM,` of an initializer is kept for the
                  kernels before the change's release only (the member's default is what SYM did)
  string_arg      `string_arg = 0`: a statement `MODULE_IMPORT_NS(NS);` written with a bare name becomes
                  an #if block: the string literal from the change's release on, the bare name before it

Every rewrite adds `#include <linux/version.h>` where the file lacks it, and a marker comment naming
the change, its release and commit. The text is scanned, never compiled or run; the scans are linear
(one pass counting parentheses, strings and character literals skipped)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice

from kmodtui.core.diagnose.apichanges import ApiChange

MAX_CALLBACKS = 8  # functions assigned to the callback member that are looked at (a module has one or two)
MAX_USES = 1_024  # uses of one name per file looked at: each may read MAX_CALL bytes (a module has a few)
MAX_CALL = 4_096  # bytes of one call's argument list read before giving up on it


def arguments(text: bytes, start: int) -> tuple[list[bytes], int]:
    """The top-level arguments of a call whose '(' is just before `start`, and the offset after its
    ')' (-1: not closed within MAX_CALL bytes)."""
    depth, args, begin, i, end = 1, [], start, start, min(len(text), start + MAX_CALL)
    while i < end:
        c = text[i]
        if c in b"\"'":  # a string or character literal: to its closing quote
            i += 1
            while i < end and text[i] != c:
                i += 2 if text[i] == 0x5C else 1  # a backslash escapes the next byte
        elif c in b"([{":
            depth += 1
        elif c in b")]}":
            depth -= 1
            if depth == 0:
                args.append(text[begin:i].strip())
                return ([] if args == [b""] else args), i + 1
        elif c == 0x2C and depth == 1:  # ','
            args.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    return [], -1


def _uses(text: bytes, name: str) -> Iterator[re.Match[bytes]]:
    """`name(` as a call or declaration, not a member (x.name(, x->name() nor a longer word."""
    return islice(re.finditer(rb"(?<![\w$.>])" + re.escape(name.encode()) + rb"[ \t]*\(", text), MAX_USES)


def _spliced(text: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """`text` with each (start, end) span replaced, in one pass (edits sorted, not overlapping): a
    source with many uses costs its length, not uses times length."""
    parts, at = [], 0
    for start, end, new in edits:
        parts += [text[at:start], new]
        at = end
    parts.append(text[at:])
    return b"".join(parts)


def _blanks_start(text: bytes, at: int) -> int:
    """Where the run of blanks (at most MAX_CALL) just before `at` starts."""
    i = at
    while i > 0 and i > at - MAX_CALL and text[i - 1] in b" \t":
        i -= 1
    return i


def _statement_start(text: bytes, at: int) -> bool:
    """Whether only blanks separate `at` from a statement's start (;, {, }, a line's start, else)."""
    i = _blanks_start(text, at)
    return i == 0 or text[i - 1] in b";{}\n" or text[max(0, i - 4):i] == b"else"


def _line_start(text: bytes, at: int) -> int:
    """The start of `at`'s line when only blanks (at most MAX_CALL) come before it there, else -1."""
    i = _blanks_start(text, at)
    return i if i == 0 or text[i - 1] == 0x0A else -1


def _kernel_version(change: ApiChange) -> str:
    parts = (change.version.split(".") + ["0", "0"])[:3]
    return f"KERNEL_VERSION({', '.join(parts)})"


def _marker(change: ApiChange) -> bytes:
    return f"/* kmodtui: {change.id}, Linux {change.version}, commit {change.commit} */\n".encode()


def _with_guard(text: bytes, change: ApiChange, guard: str, first_use: int) -> bytes:
    """`guard` after the last #include before the first rewritten use (so it is defined there) and
    before the first brace (an #include inside an initializer is not at file scope)."""
    block = _marker(change) + (guard.strip("\n") + "\n").encode() if guard else _marker(change)
    if not re.search(rb"#\s*include\s*<linux/version\.h>", text):
        block = b"#include <linux/version.h>\n" + block
    brace = text.find(b"{")
    limit = min(first_use, brace) if brace >= 0 else first_use
    includes = [m for m in re.finditer(rb"^[ \t]*#[ \t]*include\b[^\n]*\n", text, re.M) if m.start() < limit]
    at = includes[-1].end() if includes else 0
    return text[:at] + block + text[at:]


def _renamed(text: bytes, change: ApiChange) -> bytes | None:
    if change.compat.encode() in text:
        return None
    old, new = change.symbol.encode(), change.rename.encode()
    if change.statement_only:  # a call whose value is unused: after ; { } or a line's start, ending in );
        spans = []
        for m in _uses(text, change.symbol):
            if not _statement_start(text, m.start()):
                continue
            _args, end = arguments(text, m.end())
            if end > 0 and text[end:end + 8].lstrip(b" \t").startswith(b";"):
                spans.append(m.start())
        if not spans:
            return None
        after = _spliced(text, [(at, at + len(old), new) for at in spans])
        return _with_guard(after, change, change.compat, spans[0])
    word = re.compile(rb"(?<![\w$])" + re.escape(old) + rb"(?![\w$])")
    first = word.search(text)
    if not first:
        return None
    return _with_guard(word.sub(new, text), change, change.compat, first.start())


def _call_parts(form: str) -> tuple[str, list[str]]:
    name, _, rest = form.partition("(")
    return name.strip(), [a.strip() for a in rest.rstrip(") ").split(",") if a.strip()]


def _called(text: bytes, change: ApiChange) -> bytes | None:
    before, after_form = change.call
    name, params = _call_parts(before)
    wrapper = f"kmodtui_{name}"
    if f"#define {wrapper}(".encode() in text:
        return None
    spans = []
    for m in _uses(text, name):
        args, end = arguments(text, m.end())
        if end > 0 and len(args) == len(params):
            spans.append(m)
    if not spans:
        return None
    out = _spliced(text, [(m.start(), m.start() + len(name), wrapper.encode()) for m in spans])
    head = f"{wrapper}({', '.join(params)})"
    guard = (f"#if LINUX_VERSION_CODE >= {_kernel_version(change)}\n#define {head} {after_form}\n"
             f"#else\n#define {head} {before}\n#endif")
    return _with_guard(out, change, guard, spans[0].start())


def const_macro(change: ApiChange) -> str:
    return "KMODTUI_CONST_" + re.sub(r"\W", "_", change.id).upper()


def _constified(text: bytes, change: ApiChange) -> bytes | None:
    macro = const_macro(change)
    if macro.encode() in text:
        return None
    member = re.escape(change.const_callback.encode())
    functions = {m[1].decode() for m in re.finditer(rb"(?:\.|->)[ \t]*" + member + rb"[ \t]*=[ \t]*(?:&[ \t]*)?([A-Za-z_]\w*)", text)}
    param = re.compile(rb"(" + re.escape(change.const_param.encode()).replace(rb"\ ", rb"\s+") + rb")(\s*\*)")
    edits: list[tuple[int, int, bytes]] = []  # (start, end, replacement) of parameters to qualify
    for function in sorted(functions)[:MAX_CALLBACKS]:
        for m in _uses(text, function):
            args, end = arguments(text, m.end())
            if end < 0:
                continue
            at = m.end()
            for arg in args:
                offset = text.index(arg, at) if arg else at
                at = offset + len(arg)
                typed = param.match(arg)
                if typed and not arg.startswith(b"const"):
                    edits.append((offset, offset, macro.encode() + b" "))
    if not edits:
        return None
    out = _spliced(text, sorted(set(edits)))
    guard = f"#if LINUX_VERSION_CODE >= {_kernel_version(change)}\n#define {macro} const\n#else\n#define {macro}\n#endif"
    return _with_guard(out, change, guard, min(e[0] for e in edits))


def _stringified(text: bytes, change: ApiChange) -> bytes | None:
    """Whole statements `SYM(..., NS, ...);` on their own lines, NS a bare name."""
    spans = []
    for m in _uses(text, change.symbol):
        line_start = _line_start(text, m.start())
        if line_start < 0:
            continue
        args, end = arguments(text, m.end())
        if end < 0 or len(args) <= change.string_arg or not re.fullmatch(rb"[A-Za-z_]\w*", args[change.string_arg]):
            continue
        line_end = text.find(b"\n", end, end + MAX_CALL)
        if line_end < 0 and end + MAX_CALL < len(text):
            continue
        line_end = len(text) if line_end < 0 else line_end
        if text[end:line_end].strip() not in (b";", b""):
            continue
        spans.append((line_start, line_end, args))
    if not spans:
        return None
    edits = []
    for start, end, args in spans:
        old = text[start:end].strip()
        strung = list(args)
        strung[change.string_arg] = b'"' + args[change.string_arg] + b'"'
        new = change.symbol.encode() + b"(" + b", ".join(strung) + b")" + (b";" if old.endswith(b";") else b"")
        block = (f"#if LINUX_VERSION_CODE >= {_kernel_version(change)}\n".encode() + new + b"\n#else\n" + old + b"\n#endif")
        edits.append((start, end, block))
    return _with_guard(_spliced(text, edits), change, "", spans[0][0])


def _dropped(text: bytes, change: ApiChange) -> bytes | None:
    line = re.compile(rb"^[ \t]*\.[ \t]*\w+[ \t]*=[ \t]*" + re.escape(change.symbol.encode()) + rb"[ \t]*(?:,[ \t]*)?$", re.M)
    spans = list(line.finditer(text))
    if not spans:
        return None
    edits = [(m.start(), m.end(), f"#if LINUX_VERSION_CODE < {_kernel_version(change)}\n".encode() + m[0] + b"\n#endif")
             for m in spans]
    return _with_guard(_spliced(text, edits), change, "", spans[0].start())


def rewritten(text: bytes, change: ApiChange) -> bytes | None:
    """The file rewritten for the change, with its guard (None: the file does not use the old API, or
    was rewritten for this change already)."""
    if _marker(change) in text:
        return None
    if change.rename:
        return _renamed(text, change)
    if change.call:
        return _called(text, change)
    if change.const_callback:
        return _constified(text, change)
    if change.string_arg >= 0:
        return _stringified(text, change)
    if change.drop_initializer:
        return _dropped(text, change)
    return None
