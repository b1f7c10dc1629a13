"""The pages' renderer of the light markdown of the catalogue and the card wording: markdown-it-py
(CommonMark) with raw HTML off and only the constructs the content uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup
from markupsafe import escape

_MARKDOWN = MarkdownIt("zero", {"html": False}).enable(["list", "table", "emphasis"])
"""Paragraphs, bullet and numbered lists, pipe tables, ``**bold**`` and ``*italic*``; no raw
HTML, links, images, headings, code or quotes: their markers are shown as text."""

_INSIDE_BLOCK = re.compile(r"(?<=>)\n(?=</?(?:li|thead|tbody|tr|th|td)\b|</(?:ul|ol|table)>)")
"""A line break inside a list or table (the blocks themselves stay one per line)."""


def _text(_renderer: Any, tokens: Sequence[Token], idx: int, *_: Any) -> str:
    # Markupsafe's escaping (``"`` as ``&#34;``); white space, line breaks included, collapsed to
    # one space (the "newline" rule is off: a line break joins the lines of its paragraph).
    return str(escape(re.sub(r"\s+", " ", tokens[idx].content)))


_MARKDOWN.add_render_rule("text", _text)
_MARKDOWN.add_render_rule("table_open", lambda *_: '<div class="table"><table>')
_MARKDOWN.add_render_rule("table_close", lambda *_: "</table></div>\n")


def render_markdown(text: str) -> Markup:
    """Render paragraphs, bullet lists, pipe tables, ``**bold**`` and ``*italic*``.

    Everything else is escaped, so the result is safe to insert into a page whatever ``text`` holds.

    Args:
        text: the markdown source.

    Returns:
        The HTML fragment.
    """
    tokens = _one_list_per_run(_MARKDOWN.parse(text))
    for token in tokens:
        if token.type in ("th_open", "td_open"):
            token.attrs = {}  # no inline style for a column's alignment
    html = _MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {})
    return Markup(_INSIDE_BLOCK.sub("", html.strip()))


def _one_list_per_run(tokens: list[Token]) -> list[Token]:
    """A change of bullet character (``-``, ``*``, ``+``) continues the list rather than starting
    another, as the content has always been written."""
    kept: list[Token] = []
    for token in tokens:
        if (token.type == "bullet_list_open" and kept and kept[-1].type == "bullet_list_close"
                and kept[-1].level == token.level):
            kept.pop()
            continue
        kept.append(token)
    return kept
