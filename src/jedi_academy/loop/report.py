"""The case's HTML report: the trajectory per instrument (score per session per branch, the 95% band of each
measurement, the instrument's severity bands and caseness cut-off), the tree, and the sessions."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jedi_academy.loop.trajectory import CaseTrajectory
    from jedi_academy.store import Database


def branch_series(view: CaseTrajectory, instrument: str) -> dict[str, list[dict[str, Any]]]:
    """Per branch, its points: (session number, measurement); a branch starts at its fork's measurement, and
    every line starts at the baseline (session 0)."""
    baseline = (view.baseline.scores or {}).get(instrument)
    by_checkpoint: dict[str, tuple[int, dict[str, Any]]] = {}
    if baseline is not None:
        by_checkpoint[view.baseline.checkpoint_id] = (0, baseline)
    series: dict[str, list[dict[str, Any]]] = {}
    for branch in view.branches:
        start = by_checkpoint.get(branch.from_checkpoint_id)
        series[branch.name] = [] if start is None else [{"session": start[0], **start[1]}]
        for row in view.sessions:
            loop = row.loop
            if row.branch != branch.name or not loop or not loop.scores:
                continue
            score = loop.scores.get(instrument)
            if score is None:
                continue
            if loop.checkpoint_id is not None:
                by_checkpoint[loop.checkpoint_id] = (row.number, score)
            series[branch.name].append({"session": row.number, **score})
    return series


def trajectory_plot(view: CaseTrajectory, instrument_id: str) -> str:
    """The case's trajectory on one instrument: a line per branch with its 95% band, the severity bands and
    the caseness cut-off; an invalid measurement is a labelled cross below the axis, never a point on it."""
    from jedi_academy.charts import Band, Chart, Point, Series, render_svg
    from jedi_academy.instruments import load_instrument

    instrument = load_instrument(instrument_id)
    low, high = instrument.definition.scoring.range
    from jedi_academy.loop.control_view import control_series

    series = []
    by_branch = branch_series(view, instrument_id)
    for name, points in by_branch.items():
        drawn = []
        for p in points:
            note = f"session {p['session']}"
            if p["valid"]:
                ci_low, ci_high = p["ci95"]
                note = f"{note}: {p['total']:.2f}"
                drawn.append(Point(p["session"], p["total"], ci_low, ci_high, note=note))
            else:  # the gates' reason codes (the run's own problems when it has none)
                gates = (p.get("validity") or {}).get("reasons") or []
                codes = [str(r.get("code")) for r in gates if isinstance(r, dict)]
                reasons = codes or p.get("problems") or []
                drawn.append(Point(p["session"], None, invalid=reasons, note=note))
        series.append(Series(f"branch {name}", drawn))
    for name, points in control_series(view, instrument_id, by_branch).items():  # the no-therapist controls
        valid = [p for p in points if p["valid"]]
        if len(valid) >= 2:
            marks = [
                Point(p["session"], p["total"], note=f"session {p['session']}: {p['total']:.2f}")
                for p in valid
            ]
            series.append(Series(f"{name}: no-therapist control", marks, band=False, dashed=True))
    sessions = [p.x for s in series for p in s.points]
    last = int(max(sessions, default=1)) or 1
    chart = Chart(
        title=f"{instrument_id} total per session, by branch",
        series=series,
        x_ticks=[(n, str(n)) for n in range(last + 1)],
        x_label="after session (0 = baseline)",
        y_label=f"{instrument_id} total",
        y_range=(float(low), float(high)),
        cutoff=instrument.change.caseness_cutoff if instrument.change else None,
        cutoff_label="caseness cut-off",
        bands=[Band(band.min, band.max, str(band.label)) for band in instrument.definition.bands],
        width=720,
        height=320,
    )
    return str(render_svg(chart))


def write_case_report(database: Database, case_id: str, path: Path) -> Path:
    from jedi_academy.assessment.report import write_report
    from jedi_academy.loop.trajectory import case_trajectory, case_tree

    view = case_trajectory(database, case_id)
    instruments = sorted({i for row in view.sessions if row.loop for i in row.loop.scores or {}})
    sections = [
        (
            "Case",
            f"<p>therapist {html.escape(str(view.therapist))}, {html.escape(view.specialization)}, "
            f"persona {html.escape(view.persona_id)}; current branch {html.escape(view.branch)} on "
            f"checkpoint {html.escape(view.checkpoint_id)}</p>"
            f"<p>{html.escape(view.protocol_note)}</p>"
            f"<p>{html.escape(view.cannot_conclude)}</p>",
        )
    ]
    if view.closure:
        from jedi_academy.loop.closing import closure_lines

        lines = "".join(f"<li>{html.escape(line.strip())}</li>" for line in closure_lines(view.closure))
        sections.append(("Final evaluation (case closed)", f"<ul>{lines}</ul>"))
    for instrument in instruments:
        sections.append((f"Trajectory: {instrument}", trajectory_plot(view, instrument)))
    if not instruments:
        sections.append(("Trajectory", "<p>no session has been through the loop yet</p>"))
    from jedi_academy.loop.control_view import effect_section

    sections.append(("Therapist effect", effect_section(view)))
    sections.append(("Tree", f"<pre>{html.escape(case_tree(database, case_id).text)}</pre>"))
    rows = []
    for row in view.sessions:
        scores = (row.loop.scores if row.loop else None) or {}
        score_text = "; ".join(
            f"{i} {s['total']:.2f} [{s['ci95'][0]:.2f}-{s['ci95'][1]:.2f}]" if s["valid"] else f"{i} invalid"
            for i, s in scores.items()
        )
        rows.append(
            f"<tr><td>{row.number}</td><td>{html.escape(row.branch)}</td>"
            f"<td>{html.escape(row.checkpoint_id)}</td><td>{row.accepted}/{row.recommendations}"
            + (f" ({row.invalid_preference} invalid_preference)" if row.invalid_preference else "")
            + "</td>"
            f"<td>{html.escape(score_text or '-')}</td></tr>"
        )
    sections.append(
        (
            "Sessions",
            "<table><tr><th>session</th><th>branch</th><th>ran on</th><th>accepted</th>"
            "<th>scores after its loop (95% band)</th></tr>" + "".join(rows) + "</table>",
        )
    )
    if view.other_runs:  # apart from the protocol's runs, never in their place
        others = "".join(
            f"<tr><td>{r['run_id']}</td><td>{html.escape(str(r['checkpoint_id']))}</td>"
            f"<td>{html.escape(r['instrument'])}</td><td>{html.escape(r['mode'])}</td><td>{r['seed']}</td>"
            f"<td>{html.escape(r['prompt_version'])}</td>"
            f"<td>{format(r['total'], '.2f') if r['valid'] else 'invalid'}</td></tr>"
            for r in view.other_runs
        )
        sections.append(
            (
                "Other runs (not the case's protocol)",
                "<table><tr><th>run</th><th>checkpoint</th><th>instrument</th><th>mode</th><th>seed</th>"
                "<th>prompt</th><th>total</th></tr>" + others + "</table>",
            )
        )
    return write_report(path, f"Case {view.id}", sections)
