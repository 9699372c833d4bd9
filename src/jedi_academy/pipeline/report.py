"""The pipeline report: per specialization the data funnel, training curves and the baseline table with the
validity verdict (HTML in the data directory), and a short terminal summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.assessment.report import comparison_section, verdict_line, verdict_section, write_report

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.pipeline.config import PipelineConfig
    from jedi_academy.pipeline.state import PipelineState
    from jedi_academy.store import Database

TINY_NOTE = (
    "The tiny model has random weights: its text is meaningless and its scores only show that the mechanics "
    "work. Run the same pipeline with a real model to get meaningful patients."
)


def training_plot(history: list[dict[str, float]], validation: list[dict[str, float]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jedi_academy.assessment.report import _svg

    figure, axis = plt.subplots(figsize=(6, 3))
    axis.plot([h["step"] for h in history], [h["loss"] for h in history], label="training loss")
    if validation:
        axis.plot(
            [v["step"] for v in validation], [v["loss"] for v in validation], "o-", label="validation loss"
        )
    axis.set_xlabel("step")
    axis.set_ylabel("loss per token")
    axis.legend()
    return _svg(figure)


def _funnel(config: PipelineConfig, state: PipelineState, spec: str) -> list[tuple[str, Any]]:
    ingest = state.output("ingest")["summary"]
    personas = state.output(f"personas:{spec}")["report"]
    dataset = state.output(f"dataset:{spec}")["stats"]
    return [
        ("dump lines read (all specializations)", ingest["lines_read"]),
        ("comments in the specialization's subreddits", ingest["matched"]),
        (f"comments kept for {spec}", ingest["by_specialization"].get(spec, 0)),
        ("authors kept (all specializations)", ingest["authors"]),
        ("authors eligible for a persona", personas["eligible"]),
        ("personas", len(state.output(f"personas:{spec}")["persona_ids"])),
        ("conversations in the dataset", dataset["conversations"]),
        ("tokens (train + validation)", sum(s["tokens"] for s in dataset["splits"].values())),
    ]


def _table(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _baseline_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for instrument, block in results["instruments"].items():
        for comparison in block["comparisons"]:
            rows.append(
                {
                    "instrument": instrument,
                    "persona": comparison["persona"] or "(none)",
                    "base": comparison["before"],
                    "patient": comparison["after"],
                    "change": comparison["change"],
                    "classification": comparison["reliable_change"]["classification"],
                    "verdict": block["verdict"]["patients_score_higher"],
                }
            )
    return rows


def _baseline_table(rows: list[dict[str, Any]]) -> str:
    def total(side: dict[str, Any]) -> str:
        low, high = side["ci"]
        return f"{side['total']:.1f} [{low:.1f}, {high:.1f}]"

    body = "".join(
        f"<tr><td>{html.escape(r['instrument'])}</td><td>{html.escape(r['persona'])}</td><td>{total(r['base'])}</td>"
        f"<td>{total(r['patient'])}</td><td>{r['change']:+.1f}</td><td>{html.escape(r['classification'])}</td></tr>"
        for r in rows
    )
    columns = ("instrument", "persona", "base model", "patient", "change", "change class")
    head = "<tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>"
    return f"<table>{head}{body}</table>"


def write_pipeline_report(
    settings: Settings, database: Database, config: PipelineConfig, state: PipelineState
) -> tuple[Path, str]:
    from jedi_academy.store.models import Checkpoint

    sections: list[tuple[str, str]] = []
    teacher = f"{config.teacher.backend}/{config.teacher.model}"
    lines = [f"pipeline {config.name}: teacher {teacher}, base {config.base.model}"]
    from jedi_academy.llm.tiny import is_tiny_model

    if is_tiny_model(config.teacher.model) or is_tiny_model(config.base.model):
        sections.append(("Note", f"<p>{html.escape(TINY_NOTE)}</p>"))
    for spec in config.input.specializations:
        checkpoint_id = state.output(f"finetune:{spec}")["checkpoint_id"]
        with database.session() as session:
            metrics = dict(session.get(Checkpoint, checkpoint_id).metrics)
        results = state.output(f"baseline:{spec}")["results"]
        rows = _baseline_rows(results)
        sections.append((f"{spec}: data funnel", _table(_funnel(config, state, spec))))
        sections.append(
            (
                f"{spec}: training ({checkpoint_id})",
                training_plot(metrics.get("history", []), metrics.get("validation_history", [])),
            )
        )
        sections.append((f"{spec}: baseline, base model vs patient checkpoint", _baseline_table(rows)))
        for instrument, block in results["instruments"].items():
            sections.append((f"{spec} / {instrument}: validity verdict", verdict_section(block["verdict"])))
            sections.extend(
                (f"{spec} / {instrument}, persona {c['persona'] or '(none)'}", comparison_section(c))
                for c in block["comparisons"]
            )
            lines.append("  " + verdict_line(f"{spec} / {instrument}", block["verdict"]))
        for instrument, reason in results["skipped_instruments"].items():
            lines.append(f"  {spec} / {instrument}: not administered ({reason})")
    path = write_report(
        settings.path("reports", f"run-{config.name}.html"), f"Academy run: {config.name}", sections
    )
    if is_tiny_model(config.teacher.model) or is_tiny_model(config.base.model):
        lines.append(f"note: {TINY_NOTE}")
    lines.append(f"report: {path}")
    return path, "\n".join(lines)
