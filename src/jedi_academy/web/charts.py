"""Server-rendered SVG: the case's trajectory chart and the dashboard's small one. No script, no inline style
(the CSP forbids both); colours come from classes in the stylesheet, every text goes through escape()."""

from __future__ import annotations

from markupsafe import Markup, escape

from jedi_academy.loop.trajectory import Trajectory

PALETTE = 6  # .series-0 ... .series-5 in app.css


def _y_scale(trajectory: Trajectory, top: float, bottom: float):  # type: ignore[no-untyped-def]
    low, high = trajectory.score_range or (0.0, 1.0)
    span = (high - low) or 1.0
    return lambda value: bottom - (value - low) / span * (bottom - top)


def trajectory_svg(trajectory: Trajectory, *, width: int = 640, height: int = 300) -> Markup:
    """Scores per step per branch, the interval as a band, the cut-off as a dashed line; a text fallback says
    what is missing."""
    # below the axis: the step labels (+16), the row of invalid-run markers (+26, +38), the caption
    left, right, top, bottom = 48, width - 16, 16, height - 56
    steps = max((len(b.points) for b in trajectory.branches), default=1)
    x_of = (lambda step: left + step * (right - left) / (steps - 1)) if steps > 1 else (lambda step: left)
    y_of = _y_scale(trajectory, top, bottom)
    title = f"{trajectory.instrument or 'no instrument'} score per checkpoint, by branch"
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line class="axis" x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>',
    ]
    if trajectory.score_range is not None:
        low, high = trajectory.score_range
        for value in (low, (low + high) / 2, high):
            y = y_of(value)
            parts.append(
                f'<text class="tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>'
            )
    for step in range(steps):
        label = "start" if step == 0 else f"+{step}"
        parts.append(
            f'<text class="tick" x="{x_of(step):.1f}" y="{bottom + 16}" text-anchor="middle">{label}</text>'
        )
    parts.append(
        f'<text class="tick" x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        "checkpoint after each re-fine-tune</text>"
    )
    if trajectory.cutoff is not None:
        y = y_of(trajectory.cutoff)
        parts.append(f'<line class="cutoff" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="tick cutoff-label" x="{right}" y="{y - 4:.1f}" text-anchor="end">'
            f"cut-off {trajectory.cutoff:g}</text>"
        )
    for number, branch in enumerate(trajectory.branches):
        series = f"series-{number % PALETTE}"
        scored = [p for p in branch.points if p.total is not None]
        banded = [p for p in scored if p.ci_low is not None and p.ci_high is not None]
        if len(banded) >= 2:
            upper = " ".join(f"{x_of(p.step):.1f},{y_of(p.ci_high):.1f}" for p in banded)  # type: ignore[arg-type]
            lower = " ".join(
                f"{x_of(p.step):.1f},{y_of(p.ci_low):.1f}"
                for p in reversed(banded)  # type: ignore[arg-type]
            )
            parts.append(f'<polygon class="band {series}" points="{upper} {lower}"/>')
        for p in banded:
            x = x_of(p.step)
            parts.append(
                f'<line class="whisker {series}" x1="{x:.1f}" y1="{y_of(p.ci_low):.1f}" '  # type: ignore[arg-type]
                f'x2="{x:.1f}" y2="{y_of(p.ci_high):.1f}"/>'  # type: ignore[arg-type]
            )
        if len(scored) >= 2:
            line = " ".join(f"{x_of(p.step):.1f},{y_of(p.total):.1f}" for p in scored)  # type: ignore[arg-type]
            parts.append(f'<polyline class="line {series}" points="{line}"/>')
        for p in scored:
            parts.append(
                f'<circle class="point {series}" data-checkpoint="{escape(p.checkpoint_id)}" '
                f'cx="{x_of(p.step):.1f}" cy="{y_of(p.total):.1f}" r="4">'  # type: ignore[arg-type]
                f"<title>{escape(branch.name)} {escape(p.checkpoint_id)}: {p.total:.2f}</title></circle>"
            )
        for p in branch.points:
            if p.invalid is None:
                continue
            # an invalid run has no score: a labelled cross in a row of its own below the score axis, never
            # a point at a value (the axis's bottom is a score too: 0 on most instruments)
            reasons = ", ".join(p.invalid)
            x, y = x_of(p.step), bottom + 26
            parts.append(
                f'<g class="point invalid {series}" data-checkpoint="{escape(p.checkpoint_id)}">'
                f'<path d="M{x - 4:.1f},{y - 4} L{x + 4:.1f},{y + 4} '
                f'M{x - 4:.1f},{y + 4} L{x + 4:.1f},{y - 4}" stroke="currentColor" stroke-width="2"/>'
                f'<text class="tick" x="{x:.1f}" y="{y + 14}" text-anchor="middle">invalid</text>'
                f"<title>{escape(branch.name)} {escape(p.checkpoint_id)}: invalid ({escape(reasons)})</title>"
                "</g>"
            )
    colour = {b.name: f"series-{n % PALETTE}" for n, b in enumerate(trajectory.branches)}
    for control in trajectory.controls:  # the no-therapist control children: dashed, hollow, same colour
        series = colour.get(control.control_of or "", "series-5") + " control"
        scored = [p for p in control.points if p.total is not None]
        if len(scored) >= 2:
            line = " ".join(f"{x_of(p.step):.1f},{y_of(p.total):.1f}" for p in scored)  # type: ignore[arg-type]
            parts.append(f'<polyline class="line {series}" points="{line}"/>')
        for p in scored[1:]:
            parts.append(
                f'<circle class="point {series}" data-checkpoint="{escape(p.checkpoint_id)}" '
                f'cx="{x_of(p.step):.1f}" cy="{y_of(p.total):.1f}" r="4">'  # type: ignore[arg-type]
                f"<title>{escape(control.name)} {escape(p.checkpoint_id)}: {p.total:.2f}</title></circle>"
            )
    legend_x = left + 8
    legend = [(b.name, colour[b.name]) for b in trajectory.branches]
    legend += [(c.name, colour.get(c.control_of or "", "series-5") + " control") for c in trajectory.controls]
    for number, (name, series) in enumerate(legend):
        y = top + 4 + number * 16
        parts.append(f'<rect class="swatch {series}" x="{legend_x}" y="{y}" width="10" height="10"/>')
        parts.append(f'<text class="legend" x="{legend_x + 14}" y="{y + 9}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline_svg(trajectory: Trajectory, *, width: int = 140, height: int = 36) -> Markup:
    """The dashboard's small trajectory: the current branch's scored points."""
    scored = [p for b in trajectory.branches[:1] for p in b.points if p.total is not None]
    if not scored:
        invalid = [p for b in trajectory.branches[:1] for p in b.points if p.invalid is not None]
        if invalid:
            return Markup(f'<span class="muted">{len(invalid)} invalid run(s), no valid score</span>')
        return Markup('<span class="muted">no scores yet</span>')
    steps = max(p.step for p in scored) or 1
    y_of = _y_scale(trajectory, 4, height - 4)
    points = " ".join(f"{4 + p.step * (width - 8) / steps:.1f},{y_of(p.total):.1f}" for p in scored)  # type: ignore[arg-type]
    label = escape(f"{trajectory.instrument}: " + ", ".join(f"{p.total:.1f}" for p in scored))
    dots = "".join(
        f'<circle class="point series-0" cx="{4 + p.step * (width - 8) / steps:.1f}" '
        f'cy="{y_of(p.total):.1f}" r="2.5"/>'  # type: ignore[arg-type]
        for p in scored
    )
    return Markup(
        f'<svg class="spark" role="img" aria-label="{label}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
        f'<polyline class="line series-0" points="{points}"/>{dots}</svg>'
    )
