"""promptpo.views.pages: every value an HTML view prints is shown as the CLI shows it (promptpo.text.visible), then
escaped; HTML a view built itself passes as it is."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from promptpo.views import charts, pages

BIDI = "\u202eevil\u202c \u2066x\u2069"


@pytest.fixture
def env(tmp_path):
    (tmp_path / "page.html").write_text("<pre>{{ text }}</pre><p>{{ items | join(', ') }}</p>{{ built }}")
    return pages.environment(tmp_path)


def test_control_and_bidi_characters_show_as_their_escapes(env):
    page = env.get_template("page.html").render(text=f"<b>{BIDI}</b>\r\n\tok", items=["a\u200b", 3], built="")
    assert page == ("<pre>&lt;b&gt;\\u202eevil\\u202c \\u2066x\\u2069&lt;/b&gt;\\x0d\n\tok</pre>"
                    "<p>a\\u200b, 3</p>")


def test_markup_a_view_built_passes_as_it_is(env):
    built = Markup("<span class='x'>\u00e9</span>")
    assert env.get_template("page.html").render(text="", items=[], built=built).endswith(built)


def test_chart_labels_show_bidi_characters_as_escapes():
    assert charts.label(f"run {BIDI} <i>") == "run \\u202eevil\\u202c \\u2066x\\u2069 &lt;i&gt;"
