"""The one chart renderer: line and point charts as inline SVG, for the web app, the static portfolio page and
the HTML reports (assessment, pipeline, case).

Hand-written rather than matplotlib on purpose: the web app's Content-Security-Policy allows no inline style
(matplotlib's SVG is full of ``style=`` attributes), the portfolio page is re-rendered byte for byte by
``portfolio verify`` (so its charts must not change with a plotting library's version), and a page render
should not pay matplotlib's import. Each element carries a class (``axis``, ``tick``, ``cutoff``, ``line``,
``band``, ``whisker``, ``point``, ``series-N``...) that a stylesheet may restyle (the web app's ``app.css``
does) and presentation attributes with the same colours, so an SVG is readable with no stylesheet at all.

A chart is a list of named ``Series``. An invalid measurement has no score: it is drawn as a labelled cross
in a row of its own below the score axis, never as a point at a value (the axis's bottom is a score too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

# .series-0 ... .series-5 in the web app's app.css use the same colours
PALETTE = ("#3b5bdb", "#e8590c", "#2b8a3e", "#ae3ec9", "#0c8599", "#495057")
AXIS, MUTED, BAD = "#98a2b3", "#667085", "#b42318"
SHADES = ("#f4f4f4", "#e6e6e6")


@dataclass(frozen=True)
class Point:
    """One measurement at ``x``. ``y`` None with ``invalid`` set: an invalid run (its reasons); ``y`` None
    without it: nothing to draw. ``low``/``high``: its interval. ``key`` becomes ``data-checkpoint``."""

    x: float
    y: float | None
    low: float | None = None
    high: float | None = None
    invalid: Sequence[str] | None = None
    key: str | None = None
    note: str = ""  # the point's tooltip after the series' name (default: the value)


@dataclass(frozen=True)
class Series:
    """A named line: ``line`` joins its scored points, ``band`` shades its intervals (whiskers are always
    drawn), ``markers`` draws a dot per scored point."""

    name: str
    points: Sequence[Point]
    line: bool = True
    band: bool = True
    markers: bool = True
    dashed: bool = False  # a line drawn for comparison (a no-therapist control): dashed, hollow markers


@dataclass(frozen=True)
class Band:
    """A labelled horizontal range behind the data (an instrument's severity bands)."""

    low: float
    high: float
    label: str


@dataclass
class Chart:
    title: str
    series: Sequence[Series]
    x_ticks: Sequence[tuple[float, str]] = ()
    x_label: str = ""
    y_label: str = ""
    y_range: tuple[float, float] | None = None  # None: the data's own range
    x_range: tuple[float, float] | None = None  # None: from the ticks and points
    cutoff: float | None = None
    cutoff_label: str = "cut-off"
    bands: Sequence[Band] = ()
    legend: bool = True
    width: int = 640
    height: int = 300
    css_class: str = "chart"
    notes: list[str] = field(default_factory=list)  # short lines under the caption (what a mark means)


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _y_range(chart: Chart) -> tuple[float, float]:
    if chart.y_range is not None:
        low, high = chart.y_range
    else:
        values = [
            v
            for s in chart.series
            for p in s.points
            for v in (p.y, p.low, p.high)
            if v is not None and p.invalid is None
        ]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
    return (low - 1, high + 1) if high - low < 1e-9 else (low, high)


def _x_range(chart: Chart) -> tuple[float, float]:
    if chart.x_range is not None:
        return chart.x_range
    xs = [x for x, _ in chart.x_ticks] + [p.x for s in chart.series for p in s.points]
    return (min(xs), max(xs)) if xs else (0.0, 1.0)


def _scale(low: float, high: float, start: float, end: float) -> Callable[[float], float]:
    span = high - low
    if span <= 0:
        return lambda value: start
    return lambda value: start + (value - low) / span * (end - start)


def render_svg(chart: Chart) -> Markup:
    """The chart as one ``<svg>`` element (safe to insert into HTML: every text is escaped)."""
    width, height = chart.width, chart.height
    # below the axis: the x tick labels (+16), the row of invalid-run markers (+26, label +40), the caption
    # right: room for half an "invalid" label under the last step
    left, right, top, bottom = 48, width - 28, 16, height - 56
    y_low, y_high = _y_range(chart)
    y_of = _scale(y_low, y_high, bottom, top)
    x_of = _scale(*_x_range(chart), left, right)
    title = escape(chart.title)
    parts = [
        f'<svg class="{chart.css_class}" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg" aria-label="{title}"><title>{title}</title>',
    ]
    for index, band in enumerate(chart.bands):
        y1, y2 = y_of(min(band.high, y_high)), y_of(max(band.low, y_low))
        parts.append(
            f'<rect class="severity" x="{left}" y="{_fmt(y1)}" width="{right - left}" '
            f'height="{_fmt(y2 - y1)}" fill="{SHADES[index % 2]}"/>'
            f'<text class="tick" x="{right - 2}" y="{_fmt((y1 + y2) / 2 + 3)}" '
            f'text-anchor="end" font-size="9" fill="{MUTED}">{escape(band.label)}</text>'
        )
    parts += [
        f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" stroke="{AXIS}"/>',
    ]
    for value in (y_low, (y_low + y_high) / 2, y_high):
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{_fmt(y_of(value) + 4)}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{value:.4g}</text>'
        )
    for x, label in chart.x_ticks:
        parts.append(
            f'<text class="tick" x="{_fmt(x_of(x))}" y="{bottom + 16}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{escape(label)}</text>'
        )
    caption = " · ".join(
        t for t in (chart.x_label, chart.y_label and f"y: {chart.y_label}", *chart.notes) if t
    )
    if caption:
        parts.append(
            f'<text class="tick" x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
            f'font-size="11" fill="{MUTED}">{escape(caption)}</text>'
        )
    if chart.cutoff is not None:
        y = y_of(chart.cutoff)
        parts.append(
            f'<line class="cutoff" x1="{left}" y1="{_fmt(y)}" x2="{right}" y2="{_fmt(y)}" stroke="{BAD}" '
            'stroke-dasharray="5 4"/>'
            f'<text class="tick cutoff-label" x="{right}" y="{_fmt(y - 4)}" text-anchor="end" font-size="11" '
            f'fill="{BAD}">{escape(chart.cutoff_label)} {chart.cutoff:g}</text>'
        )
    for number, series in enumerate(chart.series):
        parts += _series(series, number, x_of, y_of, bottom)
    if chart.legend:
        for number, series in enumerate(chart.series):
            colour, y = PALETTE[number % len(PALETTE)], top + 4 + number * 16
            parts.append(
                f'<rect class="swatch series-{number % len(PALETTE)}" x="{left + 8}" y="{y}" width="10" '
                f'height="10" fill="{colour}"/><text class="legend" x="{left + 22}" y="{y + 9}" '
                f'font-size="11" fill="{MUTED}">{escape(series.name)}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _series(
    series: Series, number: int, x_of: Callable[[float], float], y_of: Callable[[float], float], bottom: int
) -> list[str]:
    colour, kind = PALETTE[number % len(PALETTE)], f"series-{number % len(PALETTE)}"
    paint = f'stroke="{colour}" fill="{colour}"'
    scored = [p for p in series.points if p.y is not None and p.invalid is None]
    ranged = [(p, p.low, p.high) for p in scored if p.low is not None and p.high is not None]
    parts = []
    if series.band and len(ranged) >= 2:
        upper = " ".join(f"{_fmt(x_of(p.x))},{_fmt(y_of(high))}" for p, _, high in ranged)
        lower = " ".join(f"{_fmt(x_of(p.x))},{_fmt(y_of(low))}" for p, low, _ in reversed(ranged))
        parts.append(
            f'<polygon class="band {kind}" points="{upper} {lower}" fill="{colour}" fill-opacity="0.15" '
            'stroke="none"/>'
        )
    for p, low, high in ranged:
        at = _fmt(x_of(p.x))
        parts.append(
            f'<line class="whisker {kind}" x1="{at}" y1="{_fmt(y_of(low))}" x2="{at}" '
            f'y2="{_fmt(y_of(high))}" stroke="{colour}" stroke-opacity="0.6"/>'
        )
    if series.line and len(scored) >= 2:
        line = " ".join(f"{_fmt(x_of(p.x))},{_fmt(y_of(p.y))}" for p in scored if p.y is not None)
        dash = ' stroke-dasharray="6 4"' if series.dashed else ""
        parts.append(
            f'<polyline class="line {kind}" points="{line}" fill="none" stroke="{colour}" stroke-width="2"'
            f"{dash}/>"
        )
    name = escape(series.name)
    for p in scored if series.markers else ():
        value = p.y or 0.0  # scored: never None here
        key = f' data-checkpoint="{escape(p.key)}"' if p.key else ""
        note = escape(p.note) if p.note else f"{value:.2f}"
        # a comparison line's markers are hollow and not "point"s: the points are the measurements charted
        fill = f'stroke="{colour}" fill="#fff" stroke-width="2"' if series.dashed else paint
        role = "comparison-point" if series.dashed else "point"
        parts.append(
            f'<circle class="{role} {kind}"{key} cx="{_fmt(x_of(p.x))}" cy="{_fmt(y_of(value))}" r="4" '
            f"{fill}><title>{name} {note}</title></circle>"
        )
    for p in series.points:
        if p.invalid is None or series.dashed:  # a comparison line leaves gaps unmarked; its text says why
            continue
        # no score: a labelled cross in a row of its own below the score axis, never a point at a value
        key = f' data-checkpoint="{escape(p.key)}"' if p.key else ""
        reasons = escape(", ".join(p.invalid) or "no reason given")
        x, y = x_of(p.x), bottom + 26
        what = f"{escape(p.note)}: " if p.note else ""
        parts.append(
            f'<g class="point invalid {kind}"{key} stroke="{colour}" fill="{colour}">'
            f'<path d="M{x - 4:.1f},{y - 4} L{x + 4:.1f},{y + 4} M{x - 4:.1f},{y + 4} L{x + 4:.1f},{y - 4}" '
            'stroke="currentColor" stroke-width="2"/>'
            f'<text class="tick" x="{x:.1f}" y="{y + 14}" text-anchor="middle" font-size="11" stroke="none">'
            f"invalid</text><title>{name} {what}invalid ({reasons})</title></g>"
        )
    return parts


def sparkline_svg(series: Series, *, y_range: tuple[float, float] | None, label: str, width: int = 140,
                  height: int = 36) -> Markup:  # fmt: skip
    """A small line of one series' scored points (the web dashboard's), or a muted text saying why there is
    none."""
    scored = [p for p in series.points if p.y is not None and p.invalid is None]
    if not scored:
        invalid = [p for p in series.points if p.invalid is not None]
        if invalid:
            return Markup(f'<span class="muted">{len(invalid)} invalid run(s), no valid score</span>')
        return Markup('<span class="muted">no scores yet</span>')
    values = [p.y for p in scored if p.y is not None]
    low, high = y_range or (min(values), max(values))
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    y_of = _scale(low, high, height - 4, 4)
    x_of = _scale(0, max(p.x for p in scored) or 1, 4, width - 4)  # the x axis starts at step 0
    at = [(x_of(p.x), y_of(p.y)) for p in scored if p.y is not None]
    colour = PALETTE[0]
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in at)
    dots = "".join(
        f'<circle class="point series-0" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in at
    )
    text = escape(label)
    return Markup(
        f'<svg class="spark" role="img" aria-label="{text}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{text}</title>'
        f'<polyline class="line series-0" points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        f"{dots}</svg>"
    )
