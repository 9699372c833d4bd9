"""The case's trajectory chart and the dashboard's small one, drawn by the one renderer
(``jedi_academy.charts``: no script, no inline style, every text escaped).
This module only turns a ``Trajectory`` into named series."""

from __future__ import annotations

from markupsafe import Markup

from jedi_academy import charts
from jedi_academy.charts import Chart, Point, Series, render_svg
from jedi_academy.loop.trajectory import Branch, Trajectory


def branch_series(branch: Branch) -> Series:
    """One branch as a named series: its scored points, intervals and invalid runs by checkpoint; a branch's
    no-therapist control children (``control_of``) as a dashed line without a band."""
    points = [
        Point(p.step, p.total, p.ci_low, p.ci_high, p.invalid, key=p.checkpoint_id,
              note=f"{p.checkpoint_id}: {p.total:.2f}" if p.total is not None else p.checkpoint_id)
        for p in branch.points
    ]  # fmt: skip
    if branch.control_of is not None:
        return Series(branch.name, points, band=False, dashed=True)
    return Series(branch.name, points)


def trajectory_figure(trajectory: Trajectory, *, width: int = 640, height: int = 300) -> Chart:
    """The chart's description: one series per branch (another line, such as a control, is one more
    ``Series`` in ``series``)."""
    steps = max((len(b.points) for b in trajectory.branches), default=1)
    return Chart(
        title=f"{trajectory.instrument or 'no instrument'} score per checkpoint, by branch",
        series=[branch_series(branch) for branch in [*trajectory.branches, *trajectory.controls]],
        x_ticks=[(step, "start" if step == 0 else f"+{step}") for step in range(steps)],
        x_label="checkpoint after each re-fine-tune",
        y_range=trajectory.score_range or (0.0, 1.0),
        x_range=(0, max(steps - 1, 0)),
        cutoff=trajectory.cutoff,
        width=width,
        height=height,
    )


def trajectory_svg(trajectory: Trajectory, *, width: int = 640, height: int = 300) -> Markup:
    """Scores per step per branch, the interval as a band, the cut-off as a dashed line, an invalid run as a
    labelled cross below the axis."""
    return render_svg(trajectory_figure(trajectory, width=width, height=height))


def sparkline_svg(trajectory: Trajectory) -> Markup:
    """The dashboard's small trajectory: the current branch's scored points."""
    series = branch_series(trajectory.branches[0]) if trajectory.branches else Series("", [])
    scored = [p.y for p in series.points if p.y is not None and p.invalid is None]
    label = f"{trajectory.instrument}: " + ", ".join(f"{y:.1f}" for y in scored)
    return charts.sparkline_svg(series, y_range=trajectory.score_range, label=label)
