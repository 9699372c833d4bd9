"""The case's HTML report: the trajectory per instrument (score per session per branch, the 95% band of each
measurement, the instrument's severity bands and caseness cut-off), the tree, and the sessions."""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jedi_academy.store import Database


def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def branch_series(view: dict[str, Any], instrument: str) -> dict[str, list[dict[str, Any]]]:
    """Per branch, its points: (session number, measurement); a branch starts at its fork's measurement, and
    every line starts at the baseline (session 0)."""
    baseline = (view["baseline"]["scores"] or {}).get(instrument)
    by_checkpoint: dict[str, tuple[int, dict[str, Any]]] = {}
    if baseline is not None:
        by_checkpoint[view["baseline"]["checkpoint_id"]] = (0, baseline)
    series: dict[str, list[dict[str, Any]]] = {}
    for branch in view["branches"]:
        start = by_checkpoint.get(branch["from_checkpoint_id"])
        series[branch["name"]] = [] if start is None else [{"session": start[0], **start[1]}]
        for row in view["sessions"]:
            loop = row["loop"]
            if row["branch"] != branch["name"] or not loop or not loop["scores"]:
                continue
            score = loop["scores"].get(instrument)
            if score is None:
                continue
            by_checkpoint[loop["checkpoint_id"]] = (row["number"], score)
            series[branch["name"]].append({"session": row["number"], **score})
    return series


def trajectory_plot(view: dict[str, Any], instrument_id: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jedi_academy.instruments import load_instrument

    instrument = load_instrument(instrument_id)
    low, high = instrument.definition.scoring.range
    figure, axis = plt.subplots(figsize=(8, 3.8))
    shades = ("#f4f4f4", "#e6e6e6")
    for index, band in enumerate(instrument.definition.bands):
        axis.axhspan(band.min, band.max, color=shades[index % 2], zorder=0)
        axis.text(0.995, (band.min + band.max) / 2, str(band.label), transform=axis.get_yaxis_transform(),
                  ha="right", va="center", fontsize=7, color="#777")  # fmt: skip
    cutoff = instrument.change.caseness_cutoff if instrument.change else None
    if cutoff is not None:
        axis.axhline(cutoff, color="#b22", linestyle="--", linewidth=1, label=f"caseness cut-off {cutoff:g}")
    from jedi_academy.loop.control_view import control_series

    series = branch_series(view, instrument_id)
    colours = {}
    for name, points in series.items():
        valid = [p for p in points if p["valid"]]
        if not valid:
            continue
        xs = [p["session"] for p in valid]
        line = axis.plot(xs, [p["total"] for p in valid], marker="o", label=f"branch {name}")[0]
        colours[name] = line.get_color()
        axis.fill_between(xs, [p["ci95"][0] for p in valid], [p["ci95"][1] for p in valid],
                          color=line.get_color(), alpha=0.18)  # fmt: skip
        invalid = [p["session"] for p in points if not p["valid"]]
        if invalid:
            axis.plot(invalid, [low] * len(invalid), "x", color=line.get_color(), label=f"{name}: invalid")
    for name, points in control_series(view, instrument_id, series).items():  # the no-therapist controls
        valid = [p for p in points if p["valid"]]
        if len(valid) >= 1:
            axis.plot([p["session"] for p in valid], [p["total"] for p in valid], linestyle="--",
                      marker="o", fillstyle="none", color=colours.get(name),
                      label=f"{name}: no-therapist control")  # fmt: skip
    axis.set_ylim(low, high)
    axis.set_xlabel("after session (0 = baseline)")
    axis.set_ylabel(f"{instrument_id} total")
    axis.xaxis.get_major_locator().set_params(integer=True)
    axis.legend(fontsize=7, loc="upper left")
    return _svg(figure)


def write_case_report(database: Database, case_id: str, path: Path) -> Path:
    from jedi_academy.assessment.report import write_report
    from jedi_academy.loop.trajectory import case_trajectory, case_tree

    view = case_trajectory(database, case_id)
    instruments = sorted(
        {
            i
            for row in view["sessions"]
            if row["loop"] and row["loop"]["scores"]
            for i in row["loop"]["scores"]
        }
    )
    sections = [
        (
            "Case",
            f"<p>therapist {html.escape(str(view['therapist']))}, {html.escape(view['specialization'])}, "
            f"persona {html.escape(view['persona_id'])}; current branch {html.escape(view['branch'])} on "
            f"checkpoint {html.escape(view['checkpoint_id'])}</p>"
            f"<p>{html.escape(view['protocol_note'])}</p>"
            f"<p>{html.escape(view['cannot_conclude'])}</p>",
        )
    ]
    if view.get("closure"):
        from jedi_academy.loop.closing import closure_lines

        lines = "".join(f"<li>{html.escape(line.strip())}</li>" for line in closure_lines(view["closure"]))
        sections.append(("Final evaluation (case closed)", f"<ul>{lines}</ul>"))
    for instrument in instruments:
        sections.append((f"Trajectory: {instrument}", trajectory_plot(view, instrument)))
    if not instruments:
        sections.append(("Trajectory", "<p>no session has been through the loop yet</p>"))
    from jedi_academy.loop.control_view import effect_section

    sections.append(("Therapist effect", effect_section(view)))
    sections.append(("Tree", f"<pre>{html.escape(case_tree(database, case_id)['text'])}</pre>"))
    rows = []
    for row in view["sessions"]:
        scores = (row["loop"] or {}).get("scores") or {}
        score_text = "; ".join(
            f"{i} {s['total']:.2f} [{s['ci95'][0]:.2f}-{s['ci95'][1]:.2f}]" if s["valid"] else f"{i} invalid"
            for i, s in scores.items()
        )
        rows.append(
            f"<tr><td>{row['number']}</td><td>{html.escape(row['branch'])}</td>"
            f"<td>{html.escape(row['checkpoint_id'])}</td><td>{row['accepted']}/{row['recommendations']}"
            + (f" ({row['invalid_preference']} invalid_preference)" if row.get("invalid_preference") else "")
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
    if view["other_runs"]:  # apart from the protocol's runs, never in their place
        others = "".join(
            f"<tr><td>{r['run_id']}</td><td>{html.escape(str(r['checkpoint_id']))}</td>"
            f"<td>{html.escape(r['instrument'])}</td><td>{html.escape(r['mode'])}</td><td>{r['seed']}</td>"
            f"<td>{html.escape(r['prompt_version'])}</td>"
            f"<td>{format(r['total'], '.2f') if r['valid'] else 'invalid'}</td></tr>"
            for r in view["other_runs"]
        )
        sections.append(
            (
                "Other runs (not the case's protocol)",
                "<table><tr><th>run</th><th>checkpoint</th><th>instrument</th><th>mode</th><th>seed</th>"
                "<th>prompt</th><th>total</th></tr>" + others + "</table>",
            )
        )
    return write_report(path, f"Case {view['id']}", sections)
