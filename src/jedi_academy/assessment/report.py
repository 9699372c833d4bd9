"""HTML reports with charts (inline SVG, by the one renderer ``jedi_academy.charts``) and terminal
summaries."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.charts import Chart, Point, Series, render_svg

if TYPE_CHECKING:
    from jedi_academy.assessment.compare import Comparison, ControlNotRun, Verdict


def _instrument(instrument_id: str) -> Any:
    from jedi_academy.instruments import load_instrument

    return load_instrument(instrument_id)


def _score_range(instrument: Any) -> tuple[float, float]:
    low, high = instrument.definition.scoring.range
    return float(low), float(high)


def _screening_cutoff(instrument: Any) -> float | None:
    screening = instrument.definition.screening
    return None if screening is None else screening.cutoff


def _side_point(x: float, side: dict[str, Any], note: str) -> Point:
    """One run's total as a chart point: ±1.96 SE as its interval; an invalid run is a labelled cross."""
    if not side["valid"]:
        return Point(x, None, invalid=[r["code"] for r in side["reasons"]], note=note)
    total, error = side["total"], side["standard_error"]
    if total is None or error is None:
        return Point(x, total, note=note)
    return Point(x, total, total - 1.96 * error, total + 1.96 * error, note=f"{note}: {total:.2f}")


def comparison_plot(comparison: Comparison) -> str:
    """The expected score per item, before and after, and the two totals on the instrument's range."""
    instrument = _instrument(comparison.instrument)
    items = comparison.items
    numbered = list(enumerate(items))
    before, after = f"run {comparison.before_run}", f"run {comparison.after_run}"
    values = [option.value for item in instrument.scored_items for option in item.options]
    change = comparison.change
    reference = [Point(i - 0.15, r.before, note=r.item) for i, r in numbered]
    per_item = Chart(
        title=f"{comparison.instrument}: change {'-' if change is None else f'{change:+.2f}'}",
        series=[
            Series(f"{before} (reference)", reference, line=False),
            Series(after, [Point(i + 0.15, r.after, note=r.item) for i, r in numbered], line=False),
        ],
        x_ticks=[(i, str(r.item)) for i, r in enumerate(items)],
        x_range=(-0.6, max(len(items) - 0.4, 0.6)),
        x_label="item",
        y_label="expected item score",
        y_range=(min(values, default=0), max(values, default=1)),
        width=640,
        height=260,
    )  # fmt: skip
    totals = Chart(
        title=f"{comparison.instrument} total, {before} and {after}",
        series=[
            Series(before, [_side_point(0, comparison.before.as_dict(), before)], line=False),
            Series(after, [_side_point(1, comparison.after.as_dict(), after)], line=False),
        ],
        x_ticks=[(0, before), (1, after)],
        x_range=(-0.6, 1.6),
        y_label="total (±1.96 SE)",
        y_range=_score_range(instrument),
        cutoff=_screening_cutoff(instrument),
        width=320,
        height=260,
    )
    return f"{render_svg(per_item)}\n{render_svg(totals)}"


def _total(side: dict[str, Any]) -> str:
    if not side["valid"]:
        return "no score (invalid run)"
    if side["total"] is None:
        return "no valid total"
    error = side["standard_error"]
    se = "" if error is None else f" ± {error:.2f} SE"
    return f"{side['total']:.2f}{se} (one administration: [{_fmt(side['ci'][0])}, {_fmt(side['ci'][1])}])"


def _validity(side: dict[str, Any]) -> str:
    if side["valid"]:
        return "valid"
    return "INVALID: " + "; ".join(f"{r['code']}: {r['detail']}" for r in side["reasons"])


def comparison_text(comparison: Comparison) -> str:
    change = comparison.reliable_change
    lines = [f"{comparison.instrument}: run {comparison.before_run} -> run {comparison.after_run}"]
    for difference in comparison.mismatches:
        lines.append(f"  MISMATCH (allowed): {difference.field} {difference.before} vs {difference.after}")
    for run_side, label in ((comparison.before, "before"), (comparison.after, "after ")):
        side = run_side.as_dict()
        lines.append(f"  {label} {_total(side)}  ({side['target']}) {_validity(side)}")
    if comparison.change is None:
        lines.append("  change: none (a run is invalid or has no valid total)")
    else:
        se = comparison.change_se
        units = comparison.change_sd_units
        lines.append(
            f"  change {comparison.change:+.2f}"
            + ("" if se is None else f" ± {se:.2f} SE")
            + ("" if units is None else f" ({units:+.2f} population SD)")
            + f": {change['classification']}"
            + (f" (by {change['method']}; RCI {_fmt(change['rci'])})" if change.get("method") else "")
        )
    if not comparison.valid:
        lines.append("  not a valid comparison: it is excluded from any verdict")
    lines.append("  one persona is one unit: a p-value needs several personas (see `academy baseline`)")
    return "\n".join(lines)


VERDICT_WORDS = {
    "pass": "PASS",
    "fail": "FAIL",
    "underpowered": "UNDERPOWERED",
}


def _verdict_data(verdict: Verdict | ControlNotRun | dict[str, Any]) -> dict[str, Any]:
    """A verdict as plain data: the baseline's results and the pipeline's state hold it so."""
    return verdict if isinstance(verdict, dict) else verdict.as_dict()


def verdict_line(label: str, verdict: Verdict | dict[str, Any]) -> str:
    """One terminal line for a verdict (the `baseline` command and the `run` summary)."""
    verdict = _verdict_data(verdict)
    answer = VERDICT_WORDS.get(verdict["verdict"], verdict["verdict"].upper())
    p = "-" if verdict["p"] is None else format_p(verdict["p"])
    mean = "-" if verdict["mean_change"] is None else f"{verdict['mean_change']:+.2f}"
    return (
        f"{label}: patients score higher than the {verdict['reference']}: {answer} "
        f"(mean change {mean}, d_z {_fmt(verdict['d_z'])}, p {p}, smallest reachable p "
        f"{format_p(verdict['min_reachable_p'])}, {verdict['n_personas']} valid persona(s)"
        + (f", {verdict['n_unchanged']} unchanged (no sign, left out of the test)"
           if verdict.get("n_unchanged") else "")
        + (f", {verdict['n_excluded']} excluded" if verdict["n_excluded"] else "")
        + ")"
    )


def format_p(p: float) -> str:
    return "< 0.0001" if p < 0.0001 else f"{p:.4f}"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_report(path: Path, title: str, sections: list[tuple[str, str]]) -> Path:
    """Render ``templates/report.html``; section contents are trusted HTML built by this module."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("jedi_academy.assessment"), autoescape=select_autoescape())
    page = environment.get_template("report.html").render(
        title=title, generated=datetime.now(UTC).isoformat(timespec="seconds"), sections=sections
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def comparison_section(comparison: Comparison) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r.item)}</td><td>{r.before:.3f}</td><td>{r.after:.3f}</td>"
        f"<td>{r.change:+.3f}</td></tr>"
        for r in comparison.items
    )
    return (
        f"<pre>{html.escape(comparison_text(comparison))}</pre>\n{comparison_plot(comparison)}\n"
        f"<table><tr><th>item</th><th>before</th><th>after</th><th>change</th></tr>{rows}</table>"
    )


def verdict_section(verdict: Verdict | ControlNotRun | dict[str, Any]) -> str:
    verdict = _verdict_data(verdict)
    if verdict["verdict"] == "not run":
        return f"<p>Not run: {html.escape(verdict['reason'])}</p>"
    outcome = verdict["verdict"]
    css = {"pass": "pass", "fail": "fail"}.get(outcome, "underpowered")
    criteria = "".join(
        f"<tr><td>{html.escape(c['criterion'])}</td>"
        f"<td>{'met' if c['met'] else ('not applicable' if c['met'] is None else 'not met')}</td>"
        f"<td>{html.escape(c['detail'])}</td></tr>"
        for c in verdict["criteria"]
    )
    limits = "".join(f"<li>{html.escape(note)}</li>" for note in verdict["cannot_conclude"])
    p = "-" if verdict["p"] is None else format_p(verdict["p"])
    return (
        f'<p class="{css}">{html.escape(VERDICT_WORDS.get(outcome, outcome))}: patients vs the '
        f"{html.escape(verdict['reference'])}</p>"
        f"<table><tr><th>unit</th><td>persona</td></tr>"
        f"<tr><th>valid personas</th><td>{verdict['n_personas']} ({verdict['n_excluded']} excluded)</td></tr>"
        f"<tr><th>mean change</th><td>{_fmt(verdict['mean_change'])}</td></tr>"
        f"<tr><th>d_z</th><td>{_fmt(verdict['d_z'])}</td></tr>"
        f"<tr><th>mean change in population SD</th><td>{_fmt(verdict['mean_change_sd_units'])}</td></tr>"
        f"<tr><th>p (one-sided sign-flip over the non-zero changes)</th><td>{p} "
        f"({verdict.get('n_changed', verdict['n_personas'])} changed, "
        f"{verdict.get('n_unchanged', 0)} unchanged)</td></tr>"
        f"<tr><th>smallest reachable p</th><td>{format_p(verdict['min_reachable_p'])}</td></tr></table>"
        f"<table><tr><th>criterion</th><th>outcome</th><th>detail</th></tr>{criteria}</table>"
        f"<p><strong>Rule.</strong> {html.escape(verdict['rule'])}</p>"
        f"<p><strong>What this cannot conclude.</strong></p><ul>{limits}</ul>"
    )


def _cell(side: dict[str, Any] | None) -> str:
    if side is None:
        return "<td>-</td>"
    if not side["valid"]:
        total = "no score"
    elif side["total"] is None:
        total = "no total"
    else:
        error = side["standard_error"]
        total = f"{side['total']:.1f}" + ("" if error is None else f" ± {error:.1f}")
    flags = ", ".join(side["safety_flags"]) or "-"
    state = "valid" if side["valid"] else "INVALID (" + ", ".join(r["code"] for r in side["reasons"]) + ")"
    measures = (
        f"order {_fmt(side['order_sensitivity'])}, mass {_mass(side['option_mass'])}, "
        f"missing {_share(side['missing_share'])}"
    )
    return (
        f"<td>{html.escape(side['mode'])}: {total}<br>band {html.escape(str(side['band']))}, screen "
        f"{side['positive_screen']}, safety {html.escape(flags)}<br>{html.escape(state)}<br>"
        f"<small>{html.escape(measures)}</small></td>"
    )


def _mass(value: float | None) -> str:
    return "-" if value is None else f"{value:.2g}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def persona_table(rows: list[dict[str, Any]]) -> str:
    roles = [role for role in ("base", "sham", "patient") if any(role in r["runs"] for r in rows)]
    head = "".join(f"<th>{role}</th>" for role in roles)
    body = []
    for row in rows:
        cells = "".join(_cell(row["runs"].get(role)) for role in roles)
        changes = ", ".join(
            f"vs {c} {_fmt(row.get(f'change_vs_{c}'))} ({row.get(f'reliable_change_vs_{c}')})"
            for c in ("base", "sham")
            if f"change_vs_{c}" in row
        )
        body.append(
            f"<tr><td>{html.escape(row['persona'] or '(none)')}<br><small>{row['split']}</small></td>{cells}"
            f"<td>{html.escape(changes)}</td></tr>"
        )
    return f"<table><tr><th>persona</th>{head}<th>change</th></tr>{''.join(body)}</table>"


def personas_plot(instrument_id: str, rows: list[dict[str, Any]]) -> str:
    """Totals per persona for base, sham and patient on the instrument's full range; an invalid run is a
    labelled cross below the score axis, never a point on it."""
    instrument = _instrument(instrument_id)
    roles = [role for role in ("base", "sham", "patient") if any(role in r["runs"] for r in rows)]
    width = 0.8 / max(len(roles), 1)
    series = []
    for offset, role in enumerate(roles):
        points = []
        for index, row in enumerate(rows):
            side = row["runs"].get(role)
            if side is not None:
                x = index - 0.4 + width * (offset + 0.5)
                points.append(_side_point(x, side, f"{row['persona'] or '(none)'}"))
        series.append(Series(role, points, line=False))
    chart = Chart(
        title=f"{instrument_id} total per persona",
        series=series,
        x_ticks=[(index, row["persona"] or "(none)") for index, row in enumerate(rows)],
        x_range=(-0.6, max(len(rows) - 0.4, 0.6)),
        y_label=f"{instrument_id} total (±1.96 SE)",
        y_range=_score_range(instrument),
        cutoff=_screening_cutoff(instrument),
        notes=["x below the axis: invalid run"],
        width=max(360, 70 * len(rows) + 120),
    )
    return str(render_svg(chart))


def baseline_sections(instrument_id: str, block: dict[str, Any]) -> list[tuple[str, str]]:
    sections = [(f"{instrument_id}: verdict ({block['verdict_basis']})", verdict_section(block["verdict"]))]
    for name, control in block["controls"].items():
        label = "patient vs base model" if name == "base" else "patient vs sham control"
        sections.append((f"{instrument_id}: {label}, all personas", verdict_section(control)))
    for split, outcome in block["by_split"].items():
        sections.append(
            (f"{instrument_id}: {split.replace('_', '-')} personas vs base model", verdict_section(outcome))
        )
    sections.append((f"{instrument_id}: per persona", personas_plot(instrument_id, block["personas"])
                     + persona_table(block["personas"])))  # fmt: skip
    return sections
