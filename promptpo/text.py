"""Text the model or the worker wrote, as the host keeps it and shows it.

Everything that crosses the trust boundary as text (answers, exception types and messages,
tracebacks, printed output, schedule values) is untrusted: it may hold lone surrogates that no
UTF-8 file can store, line separators that split a JSONL line, terminal control sequences, rich
markup, or megabytes meant to blow up a prompt. ``clean`` makes it storable and bounded where it
enters; ``visible`` makes it harmless where it is printed.
"""

from __future__ import annotations

import re
import unicodedata

SURROGATE = re.compile(r"[\ud800-\udfff]")
JSONL_BREAKS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}
"""Characters that ``str.splitlines`` breaks on and ``json.dumps(ensure_ascii=False)`` leaves raw."""
HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
"""Unicode categories that render as nothing or reorder text: controls, format (bidi, zero-width), separators."""


def clean(text: object, limit: int | None = None) -> str:
    """``text`` as storable UTF-8 (lone surrogates become U+FFFD), cut to ``limit`` characters with a note."""
    value = text if isinstance(text, str) else str(text)
    value = SURROGATE.sub("\ufffd", value)
    if limit is not None and len(value) > limit:
        value = value[:limit] + f"... [{len(value) - limit} more characters cut]"
    return value


def jsonl_safe(line: str) -> str:
    """A JSON text with every character ``splitlines`` would break on written as an escape."""
    for raw, escaped in JSONL_BREAKS.items():
        line = line.replace(raw, escaped)
    return line


def visible(text: object, keep_newlines: bool = True) -> str:
    """``text`` with every control, format (bidi, zero-width) and separator character shown as an escape,
    so nothing printed can move the cursor, set the title, write the clipboard or reorder what is seen."""
    value = clean(text)
    out = []
    for ch in value:
        if ch == "\n" and keep_newlines or ch == "\t":
            out.append(ch)
        elif unicodedata.category(ch) in HIDDEN:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def shown(text: object, keep_newlines: bool = True):
    """``visible(text)`` as a rich ``Text``: printed literally, never read as markup."""
    from rich.text import Text

    return Text(visible(text, keep_newlines))


def comment_header(lines: list[str]) -> str:
    """``lines`` as the ``# ...`` header of a generated file: one comment line each, whatever they hold."""
    return "\n".join(f"# {visible(line, keep_newlines=False)}" for line in lines)


def brief(value: object, limit: int = 60) -> str:
    """A short repr of a value the candidate made (a repr can raise, e.g. for a 5,000-digit int)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return clean(text, limit)
