"""HTML reports with plots (matplotlib, embedded as SVG) and terminal summaries."""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _svg(figure: Any) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def comparison_plot(comparison: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (items_axis, totals_axis) = plt.subplots(
        1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 1]}
    )
    labels = [row["item"] for row in comparison["items"]]
    positions = range(len(labels))
    items_axis.bar(
        [p - 0.2 for p in positions], [r["before"] for r in comparison["items"]], 0.4, label="before"
    )
    items_axis.bar(
        [p + 0.2 for p in positions], [r["after"] for r in comparison["items"]], 0.4, label="after"
    )
    items_axis.set_xticks(list(positions), labels)
    items_axis.set_xlabel("item")
    items_axis.set_ylabel("expected item score")
    items_axis.legend()
    for index, key in enumerate(("before", "after")):
        side = comparison[key]
        low, high = side["ci"]
        total = side["total"]
        error = [[total - low], [high - total]] if low is not None and high is not None else None
        totals_axis.bar(index, total, yerr=error, capsize=6, color=f"C{index}")
    totals_axis.set_xticks([0, 1], ["before", "after"])
    totals_axis.set_ylabel(f"{comparison['instrument']} total (95% interval)")
    figure.suptitle(f"{comparison['instrument']}: change {comparison['change']:+.2f}")
    return _svg(figure)


def comparison_text(comparison: dict[str, Any]) -> str:
    change = comparison["reliable_change"]
    d = comparison["cohens_d"]
    lines = [
        f"{comparison['instrument']}: run {comparison['before_run']} -> run {comparison['after_run']}",
        f"  before {comparison['before']['total']:.2f} [{_fmt(comparison['before']['ci'][0])}, "
        f"{_fmt(comparison['before']['ci'][1])}]  ({comparison['before']['target']})",
        f"  after  {comparison['after']['total']:.2f} [{_fmt(comparison['after']['ci'][0])}, "
        f"{_fmt(comparison['after']['ci'][1])}]  ({comparison['after']['target']})",
        f"  change {comparison['change']:+.2f}: {change['classification']} "
        f"(by {change['method']}; RCI {_fmt(change['rci'])})",
        f"  Cohen's d {_fmt(d)}  paired permutation p {format_p(comparison['permutation_p'])} (scored items)",
    ]
    return "\n".join(lines)


def verdict_line(label: str, verdict: dict[str, Any]) -> str:
    """One terminal line for a validity verdict (the `baseline` command and the `run` summary)."""
    answer = "PASS" if verdict["patients_score_higher"] else "FAIL"
    return (
        f"{label}: patients score higher than the base model: {answer} "
        f"(mean change {verdict['mean_change']:+.2f}, p {format_p(verdict['p_value'])} over "
        f"{verdict['p_value_basis']}, {verdict['personas']} persona(s))"
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


def comparison_section(comparison: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(r['item'])}</td><td>{r['before']:.3f}</td><td>{r['after']:.3f}</td>"
        f"<td>{r['change']:+.3f}</td></tr>"
        for r in comparison["items"]
    )
    return (
        f"<pre>{html.escape(comparison_text(comparison))}</pre>\n{comparison_plot(comparison)}\n"
        f"<table><tr><th>item</th><th>before</th><th>after</th><th>change</th></tr>{rows}</table>"
    )


def verdict_section(verdict: dict[str, Any]) -> str:
    passed = verdict["patients_score_higher"]
    label = (
        "PASS: the patient models score higher than the base model"
        if passed
        else ("FAIL: the patient models do not score reliably higher than the base model")
    )
    return (
        f'<p class="{"pass" if passed else "fail"}">{html.escape(label)}</p>'
        f"<table><tr><th>personas</th><td>{verdict['personas']}</td></tr>"
        f"<tr><th>mean change</th><td>{verdict['mean_change']:+.2f}</td></tr>"
        f"<tr><th>p-value ({verdict['p_value_basis']})</th><td>{format_p(verdict['p_value'])}</td></tr>"
        f"<tr><th>mean Cohen's d</th><td>{_fmt(verdict['mean_cohens_d'])}</td></tr>"
        "<tr><th>personas reliably more symptomatic</th>"
        f"<td>{verdict['reliably_more_symptomatic']}</td></tr></table>"
    )
