"""A tiny, safe renderer for the light markdown of the catalogue and the card wording."""

from __future__ import annotations

import re

from markupsafe import Markup
from markupsafe import escape

_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_TABLE_RULE = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"\*(?=\S)(.+?)(?<=\S)\*")


def render_markdown(text: str) -> Markup:
    """Render paragraphs, ``- `` bullet lists, pipe tables, ``**bold**`` and ``*italic*``.

    Everything else is escaped, so the result is safe to insert into a page whatever ``text`` holds.

    Args:
        text: the markdown source.

    Returns:
        The HTML fragment.
    """
    blocks = [block for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return Markup("\n".join(_block(block.splitlines()) for block in blocks))


def _block(lines: list[str]) -> str:
    if len(lines) >= 2 and all(line.lstrip().startswith("|") for line in lines) \
            and _TABLE_RULE.match(lines[1].strip()):
        return _table(lines)
    html: list[str] = []
    paragraph: list[str] = []
    items: list[list[str]] = []
    for line in lines:
        bullet = _BULLET.match(line)
        if bullet:
            html.append(_paragraph(paragraph))
            paragraph = []
            items.append([bullet.group(1)])
        elif items:
            items[-1].append(line)  # a continuation line belongs to the open item
        else:
            paragraph.append(line)
    html.append(_paragraph(paragraph))
    if items:
        html.append("<ul>" + "".join(f"<li>{_inline(' '.join(i))}</li>" for i in items) + "</ul>")
    return "\n".join(part for part in html if part)


def _paragraph(lines: list[str]) -> str:
    return f"<p>{_inline(' '.join(lines))}</p>" if lines else ""


def _table(lines: list[str]) -> str:
    header, *rows = [_cells(line) for index, line in enumerate(lines) if index != 1]
    head = "".join(f"<th>{_inline(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_inline(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return (f'<div class="table"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _inline(text: str) -> str:
    # Escape first: the emphasis markers survive escaping, the captured text is already safe.
    html = str(escape(" ".join(text.split())))
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return _ITALIC.sub(r"<em>\1</em>", html)
