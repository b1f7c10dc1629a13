"""The pages' markdown renderer: the few constructs the content uses, everything else escaped."""

from __future__ import annotations

import pytest

from cds_service.web.markdown import render_markdown
from cds_service.web.pages import literal_text
from tests.web.html_check import check_page


@pytest.mark.parametrize(("source", "html"), [
    ("One line\nwrapped.", "<p>One line wrapped.</p>"),
    ("First.\n\n  \nSecond.", "<p>First.</p>\n<p>Second.</p>"),
    ("**bold** and *italic*", "<p><strong>bold</strong> and <em>italic</em></p>"),
    ("5 * 3 * 2 and a lone * star", "<p>5 * 3 * 2 and a lone * star</p>"),
    ("- one\n- two\n  continued", "<ul><li>one</li><li>two continued</li></ul>"),
    ("* star item\n+ plus item", "<ul><li>star item</li><li>plus item</li></ul>"),
    ("Lead-in:\n- a *b*", "<p>Lead-in:</p>\n<ul><li>a <em>b</em></li></ul>"),
    ("*not a list*", "<p><em>not a list</em></p>"),
    ("| a | b |\n|---|:-:|\n| **1** | 2 |",
     '<div class="table"><table><thead><tr><th>a</th><th>b</th></tr></thead>'
     "<tbody><tr><td><strong>1</strong></td><td>2</td></tr></tbody></table></div>"),
    ("| not a table", "<p>| not a table</p>"),
    ("", ""),
])
def test_renders_the_supported_constructs(source: str, html: str) -> None:
    assert str(render_markdown(source)) == html


@pytest.mark.parametrize("source", [
    "<script>alert(1)</script>",
    "**<script>alert(1)</script>**",
    "- <img src=x onerror=alert(1)>",
    '| <b onclick="x()">cell</b> |\n|---|\n| <script>x()</script> |',
    "[link](javascript:alert(1)) <a href='javascript:alert(1)'>a</a>",
    '*" onmouseover="alert(1)*',
])
def test_content_cannot_inject_html(source: str) -> None:
    html = str(render_markdown(source))
    page = check_page(html)
    assert page.problems == []
    assert set(page.counts) <= {"p", "ul", "li", "strong", "em", "div", "table", "thead", "tbody",
                                "tr", "th", "td"}
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "&lt;" in html or "&#34;" in html


@pytest.mark.parametrize(("source", "html"), [
    ("# Heading", "<p># Heading</p>"),
    ("> quote", "<p>&gt; quote</p>"),
    ("`code`", "<p>`code`</p>"),
    ("    indented", "<p>indented</p>"),
    ("![img](x.png) [link](https://example.org)", "<p>![img](x.png) [link](https://example.org)</p>"),
    ("<https://evil.example>", "<p>&lt;https://evil.example&gt;</p>"),
    ("[a]\n\n[a]: javascript:alert(1)", "<p>[a]</p>\n<p>[a]: javascript:alert(1)</p>"),
    ("&lt;script&gt; &amp;", "<p>&amp;lt;script&amp;gt; &amp;amp;</p>"),
    ("<div>\nblock\n</div>", "<p>&lt;div&gt; block &lt;/div&gt;</p>"),
    ("line  \nnext", "<p>line next</p>"),
    ('say "no"', "<p>say &#34;no&#34;</p>"),
])
def test_other_markdown_is_shown_as_escaped_text(source: str, html: str) -> None:
    """Raw HTML, entities, links, images, headings, quotes and code stay text, escaped."""
    assert str(render_markdown(source)) == html


def test_the_result_is_markup_so_jinja_does_not_escape_it_twice() -> None:
    assert render_markdown("a & b").__html__() == "<p>a &amp; b</p>"


@pytest.mark.parametrize(("template", "text"), [
    ("Plain text.", "Plain text."),
    ("The {tumour} grew.", "The {tumour} grew."),
    ("Literal {{braces}}.", "Literal {braces}."),
])
def test_wording_templates_are_shown_as_text(template: str, text: str) -> None:
    assert literal_text(template) == text
