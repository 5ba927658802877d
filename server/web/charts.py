"""How the web app draws its pictures: SVG made on the server with pygal.

Drawn on the server, a picture is an ordinary image: the reader's browser runs no chart code,
the pages keep their strict Content-Security-Policy (scripts and styles from this site only),
and the picture looks the same in a screenshot or with scripts off. pygal is a maintained,
pure-Python SVG charting library (it uses lxml, already a dependency) that draws a year of
weekly bars in milliseconds. Its default configuration links tooltip JavaScript from the web:
``js=()`` turns that off, and pictures are served as images with a policy of their own
(:func:`svg_response`) that lets their inline styles apply and nothing else load or run.

Colours follow the pages' palette (``static/web.css``), with a dark variant chosen by the
reader's colour scheme inside the picture itself.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pygal
from flask import Response
from pygal.style import Style

# pygal appends an old-style import finder for its map plugins to ``sys.meta_path``, which
# Python warns about on every import that reaches it (an optional module looked for and
# absent). No picture here is a map: take it out again.
sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, pygal.PluginImportFixer)]

# web.css's accent first, then colours that stay apart from it and from each other.
COLOURS = ("#4f46e5", "#0f9d8a", "#d97706", "#db2777", "#0284c7", "#65a30d", "#7c3aed")

STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1b1c21",
    foreground_strong="#1b1c21",
    foreground_subtle="#5d6070",
    font_family='system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    no_data_font_size=18,
    guide_stroke_color="#e4e5ea",
    major_guide_stroke_color="#e4e5ea",
    opacity=".9",
    colors=COLOURS,
)

# The same picture on the pages' dark background (web.css's dark palette).
DARK = """inline:@media (prefers-color-scheme: dark) {
  text { fill: #e8e9ee !important; }
  .axis .line, .axis .guides .line, .guides .line { stroke: #2d3039 !important; }
}"""

# Pictures are images: their styles are inline, nothing else is loaded and no script runs.
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"


def _config(title: str, **options) -> dict:
    return {
        "title": title,
        "style": STYLE,
        "css": ("file://style.css", "file://graph.css", DARK),
        "js": (),
        "width": 800,
        "height": 300,
        "legend_at_bottom": True,
        "truncate_legend": -1,
        "truncate_label": -1,
        "print_values": False,
        "show_x_guides": False,
        "no_data_text": "Nothing yet",
        "margin": 8,
        **options,
    }


def _every(labels: Sequence[str], shown: int) -> list[str]:
    """Labels for the x axis, about ``shown`` of them drawn (pygal's major labels)."""
    step = max(1, -(-len(labels) // shown))
    return [label for i, label in enumerate(labels) if i % step == 0]


def bars(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    stacked: bool = False,
    percent: bool = False,
    shown_labels: int = 13,
) -> bytes:
    """Bars over ``labels`` (e.g. weeks), one colour per ``(name, values)`` series; stacked
    bars (of shares, when ``percent``) show how a whole divides."""
    kind = pygal.StackedBar if stacked else pygal.Bar
    chart = kind(
        **_config(
            title,
            x_labels_major=_every(labels, shown_labels),
            show_minor_x_labels=False,
            show_legend=len(series) > 1,
            value_formatter=(lambda v: f"{v:.0%}") if percent else (lambda v: f"{v:g}"),
            range=(0, 1) if percent else None,
            min_scale=2,
            max_scale=6,
        )
    )
    chart.x_labels = list(labels)
    for name, values in series:
        chart.add(name, [float(v) for v in values])
    return chart.render()


def line(title: str, labels: Sequence[str], name: str, values: Sequence[float]) -> bytes:
    """One quantity over ``labels`` (e.g. the catalog's size by day), from zero up."""
    chart = pygal.Line(
        **_config(
            title,
            x_labels_major=_every(labels, 10),
            show_minor_x_labels=False,
            show_legend=False,
            fill=True,
            dots_size=1.5,
            include_x_axis=True,
            value_formatter=lambda v: f"{v:,.0f}",
        )
    )
    chart.x_labels = list(labels)
    chart.add(name, [float(v) for v in values])
    return chart.render()


def svg_response(svg: bytes) -> Response:
    """A picture as an image of its own, private to the signed-in reader."""
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_CSP
    response.headers["Cache-Control"] = "private, no-cache"
    return response
