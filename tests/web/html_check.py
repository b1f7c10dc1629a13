"""A strict HTML checker for the server-rendered pages: ``html.parser`` for the structure the tests
read, and html5lib in strict mode (the WHATWG parsing algorithm) for validity."""

from __future__ import annotations

from html.parser import HTMLParser

import html5lib

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})
"""Elements without an end tag."""

BLOCK = frozenset({"address", "article", "aside", "blockquote", "div", "dl", "footer", "form",
                   "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p",
                   "pre", "section", "table", "ul"})
"""Elements that close an open ``<p>`` (so one inside a ``<p>`` is a nesting error)."""


class PageChecker(HTMLParser):
    """Collects the structure of one page and every well-formedness problem found.

    Attributes:
        problems: what is wrong, in document order.
        doctype: the ``<!doctype>`` declaration, if any.
        counts: start tags seen, by name.
        html_lang: the ``lang`` attribute of ``<html>``.
        metas: the attributes of every ``<meta>``.
        hrefs: every ``href``.
        title: the text of ``<title>``.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.doctype: str | None = None
        self.counts: dict[str, int] = {}
        self.html_lang: str | None = None
        self.metas: list[dict[str, str | None]] = []
        self.hrefs: list[str] = []
        self.title = ""
        self._open: list[str] = []

    def handle_decl(self, decl: str) -> None:
        """Record the doctype."""
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Push the element, and note what the page checks look at."""
        self._start(tag, attrs)
        if tag not in VOID:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """A self-closed element: allowed only for void elements, and in SVG (foreign content)."""
        self._start(tag, attrs)
        if tag not in VOID and tag != "svg" and "svg" not in self._open:
            self.problems.append(f"<{tag}/> is not a void element")

    def handle_endtag(self, tag: str) -> None:
        """Pop the element; it must be the innermost open one."""
        if tag in VOID:
            self.problems.append(f"end tag for void element </{tag}>")
        elif not self._open or self._open[-1] != tag:
            self.problems.append(f"</{tag}> does not close the open {self._open[-1:]}")
        else:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        """Collect the title text."""
        if self._open and self._open[-1] == "title":
            self.title += data

    def close(self) -> None:
        """Every element must be closed at the end."""
        super().close()
        if self._open:
            self.problems.append(f"unclosed elements {self._open}")

    def _start(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if tag in BLOCK and "p" in self._open:
            self.problems.append(f"<{tag}> inside <p>")
        values = dict(attrs)
        if tag == "html":
            self.html_lang = values.get("lang")
        if tag == "meta":
            self.metas.append(values)
        if "href" in values and values["href"] is not None:
            self.hrefs.append(values["href"])
        handlers = [name for name in values if name.startswith("on")]
        if handlers:
            self.problems.append(f"<{tag}> has script handlers {handlers}")


def html5_errors(html: str) -> list[str]:
    """The first parse error html5lib's strict mode finds (it stops there), or none.

    A whole page is parsed as a document; anything else (rendered markdown) as a fragment.
    """
    parser = html5lib.HTMLParser(strict=True)
    whole = html.lstrip().lower().startswith("<!doctype")
    try:
        parser.parse(html) if whole else parser.parseFragment(html)
    except html5lib.html5parser.ParseError as exc:
        return [f"html5lib: {exc}"]
    return []


def check_page(html: str) -> PageChecker:
    """Parse ``html`` and return the checker with its findings (html5lib's among them)."""
    checker = PageChecker()
    checker.feed(html)
    checker.close()
    checker.problems += html5_errors(html)
    return checker
