"""How every HTML view renders (`promptpo ui`'s pages, `promptpo report`'s file): Jinja, autoescaped, strict about
undefined names, and every value a template prints shown as the CLI shows it (promptpo.text.visible): a control,
format (bidi, zero-width) or separator character in the model's text (answers, analysis, code, errors, printed
output, notes) appears as its escape, so it can neither reorder nor hide what a page shows, and an auditor sees
that it was there.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from promptpo.text import visible


def shown(value: object) -> object:
    """What a template prints for ``value`` (Jinja's finalize, before autoescaping): its text as ``visible`` makes
    it. Markup passes as it is: HTML a view built itself (coloured code, chart JSON, the report's tree, a script it
    carries) shows its text through ``visible`` where it is built."""
    return value if isinstance(value, Markup) else visible(value)


def environment(folder: Path, **options) -> jinja2.Environment:
    """The templates in ``folder``, rendered as every HTML view renders (``options``: Jinja's whitespace control)."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), autoescape=True,
                              undefined=jinja2.StrictUndefined, finalize=shown, **options)
