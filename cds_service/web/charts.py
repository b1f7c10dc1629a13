"""The override dashboard's charts, rendered on the server as inline SVG by pygal.

pygal draws the charts; nothing here draws. Its SVG carries a ``<script>`` with the chart's
configuration for its optional tooltip script, which is hosted on the internet: the tooltip script
is never named (``js=[]``) and the configuration script is removed, so a page holding these charts
runs no script and fetches nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import pygal
from markupsafe import Markup
from pygal.etree import etree
from pygal.style import Style

# pygal appends to sys.meta_path a finder for its map plugins (pygal.maps.*, unused here) that has
# only the legacy find_module API: Python 3.11 then raises an ImportWarning on every import that
# no other finder satisfies, anywhere in the process (an optional `import x` in try/except).
sys.meta_path[:] = [finder for finder in sys.meta_path
                    if type(finder).__module__ != "pygal" or hasattr(finder, "find_spec")]

ACCEPTED = "#0b57a4"
OVERRIDDEN = "#c25400"
NO_FEEDBACK = "#9a9a9a"
RATE = "#5b2a86"
"""Series colours: blue and orange tell apart for the common colour-vision deficiencies."""

STYLE = Style(
    background="transparent",
    plot_background="#ffffff",
    foreground="#1b1b1b",
    foreground_strong="#1b1b1b",
    foreground_subtle="#555555",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif',
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=13,
    title_font_size=16,
    colors=(ACCEPTED, OVERRIDDEN, NO_FEEDBACK, RATE),
)

_COMMON: dict[str, Any] = {
    "js": [],  # no tooltip script from the internet
    "explicit_size": False,  # a viewBox only: the page's CSS sizes the chart to the screen
    "disable_xml_declaration": True,
    "legend_at_bottom": True,
    "legend_at_bottom_columns": 3,
    "print_values": True,
    "print_zeroes": False,
    "margin": 12,
    "truncate_label": -1,  # never cut a recommendation id
    "no_data_text": "No cards",
}


def cards_chart(ids: Sequence[str], with_feedback: Sequence[int],
                without_feedback: Sequence[int]) -> Markup:
    """Cards issued per recommendation, split into those with and without feedback."""
    chart = pygal.HorizontalStackedBar(
        **_COMMON, width=800, height=_bar_height(len(ids)), title="Cards issued",
        style=_colours(ACCEPTED, NO_FEEDBACK),
        y_labels=_counts_axis([a + b for a, b in zip(with_feedback, without_feedback,
                                                     strict=True)]))
    chart.x_labels = list(ids)
    chart.add("with feedback", list(with_feedback))
    chart.add("without feedback", list(without_feedback))
    return _svg(chart)


def rate_chart(ids: Sequence[str], rates: Sequence[float | None]) -> Markup:
    """The override rate of each recommendation, in per cent (none without feedback)."""
    chart = pygal.HorizontalBar(
        **_COMMON, width=800, height=_bar_height(len(ids)), range=(0, 100),
        y_labels=list(range(0, 101, 10)), title="Override rate, % of feedback",
        style=_colours(OVERRIDDEN), value_formatter=_percent, show_legend=False)
    chart.x_labels = list(ids)
    chart.add("override rate", _percents(rates))
    return _svg(chart)


def outcomes_chart(ids: Sequence[str], accepted: Sequence[int],
                   overridden: Sequence[int]) -> Markup:
    """Accepted and overridden feedback items per recommendation."""
    chart = pygal.HorizontalStackedBar(
        **_COMMON, width=800, height=_bar_height(len(ids)),
        title="Feedback: accepted and overridden", style=_colours(ACCEPTED, OVERRIDDEN),
        y_labels=_counts_axis([a + o for a, o in zip(accepted, overridden, strict=True)]))
    chart.x_labels = list(ids)
    chart.add("accepted", list(accepted))
    chart.add("overridden", list(overridden))
    return _svg(chart)


def reasons_chart(title: str, reasons: Sequence[tuple[str, int]]) -> Markup:
    """How often each override reason was given."""
    chart = pygal.HorizontalBar(
        **_COMMON, width=800, height=_bar_height(len(reasons)), title=title,
        style=_colours(OVERRIDDEN), show_legend=False,
        y_labels=_counts_axis([count for _, count in reasons]))
    chart.x_labels = [label for label, _ in reasons]
    chart.add("times given", [count for _, count in reasons])
    return _svg(chart)


def weekly_counts_chart(title: str, weeks: Sequence[str], issued: Sequence[int],
                        accepted: Sequence[int], overridden: Sequence[int]) -> Markup:
    """Cards issued and feedback on them by ISO week of issue."""
    chart = pygal.Bar(
        **{**_COMMON, "print_values": len(weeks) <= 12}, width=800, height=360, title=title,
        x_label_rotation=-40 if len(weeks) > 6 else 0, y_labels=_counts_axis(issued),
        style=_colours(NO_FEEDBACK, ACCEPTED, OVERRIDDEN))
    chart.x_labels = list(weeks)
    chart.add("issued", list(issued))
    chart.add("accepted", list(accepted))
    chart.add("overridden", list(overridden))
    return _svg(chart)


def weekly_rate_chart(title: str, weeks: Sequence[str],
                      rates: Sequence[float | None]) -> Markup:
    """The override rate by ISO week of issue; a week without feedback leaves a gap."""
    chart = pygal.Line(
        **_COMMON, width=800, height=300, title=title, range=(0, 100),
        y_labels=list(range(0, 101, 20)), x_label_rotation=-40 if len(weeks) > 6 else 0,
        style=_colours(RATE), value_formatter=_percent, show_legend=False, dots_size=4)
    chart.x_labels = list(weeks)
    chart.add("override rate", _percents(rates))
    return _svg(chart)


def _counts_axis(values: Sequence[int]) -> list[int]:
    """Whole-number ticks from 0 to the largest value (about ten of them)."""
    top = max([*values, 1])
    step = -(-top // 10)
    return list(range(0, top + step, step))


def _percents(rates: Sequence[float | None]) -> list[float | None]:
    return [None if rate is None else round(rate * 100, 1) for rate in rates]


def _bar_height(rows: int) -> int:
    return 150 + 34 * max(rows, 1)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:g} %"


def _colours(*colours: str) -> Style:
    style = Style(**{name: getattr(STYLE, name) for name in (
        "background", "plot_background", "foreground", "foreground_strong", "foreground_subtle",
        "font_family", "label_font_size", "major_label_font_size", "legend_font_size",
        "value_font_size", "title_font_size")})
    style.colors = colours
    return style


def _svg(chart: Any) -> Markup:
    """The chart as inline SVG markup, without pygal's configuration script."""
    root = chart.render_tree()
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    text = etree.tostring(root, encoding="unicode")
    return Markup(text)  # noqa: S704 (pygal's own SVG; every label it holds is escaped by it)
