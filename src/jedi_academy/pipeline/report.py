"""The pipeline report: per specialization the data funnel, training curves and the baseline table with the
validity verdict (HTML in the data directory), and a short terminal summary."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.assessment.report import baseline_sections, verdict_line, write_report
from jedi_academy.errors import AcademyError

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
    """The training and validation loss per step (by the one chart renderer)."""
    from jedi_academy.charts import Chart, Point, Series, render_svg

    training = [Point(h["step"], h["loss"]) for h in history]
    series = [Series("training loss", training, band=False, markers=False)]
    if validation:
        checked = [Point(v["step"], v["loss"]) for v in validation]
        series.append(Series("validation loss", checked, band=False))
    steps = [h["step"] for h in history] + [v["step"] for v in validation]
    last = max(steps, default=1)
    chart = Chart(
        title="loss per token by training step",
        series=series,
        x_ticks=[(0, "0"), (last / 2, f"{last / 2:g}"), (last, f"{last:g}")],
        x_label="step",
        y_label="loss per token",
        width=480,
        height=240,
    )
    return str(render_svg(chart))


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
            checkpoint = session.get(Checkpoint, checkpoint_id)
            if checkpoint is None:  # the pipeline's state names a checkpoint the database lost
                raise AcademyError(f"the pipeline's checkpoint {checkpoint_id} is not in the database")
            metrics = dict(checkpoint.metrics)
        results = state.output(f"baseline:{spec}")["results"]
        sections.append((f"{spec}: data funnel", _table(_funnel(config, state, spec))))
        sections.append(
            (
                f"{spec}: training ({checkpoint_id})",
                training_plot(metrics.get("history", []), metrics.get("validation_history", [])),
            )
        )
        for instrument, block in results["instruments"].items():
            sections.extend(
                (f"{spec} / {heading}", body) for heading, body in baseline_sections(instrument, block)
            )
            lines.append(
                "  " + verdict_line(f"{spec} / {instrument} ({block['verdict_basis']})", block["verdict"])
            )
        for instrument, reason in results["skipped_instruments"].items():
            lines.append(f"  {spec} / {instrument}: not administered ({reason})")
    path = write_report(
        settings.path("reports", f"run-{config.name}.html"), f"Academy run: {config.name}", sections
    )
    if is_tiny_model(config.teacher.model) or is_tiny_model(config.base.model):
        lines.append(f"note: {TINY_NOTE}")
    lines.append(f"report: {path}")
    return path, "\n".join(lines)
