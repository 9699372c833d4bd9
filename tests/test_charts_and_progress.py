"""The one chart renderer (``jedi_academy.charts``) and the one progress display (``jedi_academy.progress``):
pure functions and a plain stream, no model."""

from __future__ import annotations

import io
import re
from typing import Any

from jedi_academy.charts import Band, Chart, Point, Series, render_svg, sparkline_svg
from jedi_academy.progress import Progress


def _chart(*series: Series, **options: Any) -> str:
    defaults: dict[str, Any] = {"x_ticks": [(0, "start"), (1, "+1"), (2, "+2")], "y_range": (0.0, 27.0)}
    return str(render_svg(Chart("phq-9 <score>", list(series), **{**defaults, **options})))


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern} not in the chart"
    return match.group(1)


def test_every_named_series_is_a_line_of_its_own_with_a_legend_entry() -> None:
    svg = _chart(
        Series("main", [Point(0, 12.0, 10.0, 14.0, key="ck-a"), Point(1, 9.0, 7.0, 11.0), Point(2, 8.0)]),
        Series("control (no therapist)", [Point(0, 12.0), Point(2, 11.0)]),
    )
    assert re.findall(r'<polyline class="line (series-\d)"', svg) == ["series-0", "series-1"]
    assert svg.count('<circle class="point series-0"') == 3
    assert svg.count('<circle class="point series-1"') == 2
    assert 'data-checkpoint="ck-a"' in svg
    assert ">main</text>" in svg and ">control (no therapist)</text>" in svg
    assert svg.count('<polygon class="band series-0"') == 1  # two intervals make a band; the control has none
    assert "phq-9 &lt;score&gt;" in svg and "<script" not in svg and "style=" not in svg


def test_an_invalid_measurement_is_a_labelled_cross_below_the_axis_never_a_point() -> None:
    svg = _chart(Series("main", [Point(0, 12.0), Point(1, None, invalid=["option_mass"]), Point(2, 0.0)]))
    axis = int(_found(r'<line class="axis" x1="\d+" y1="(\d+)"', svg))
    cross = re.search(r'<g class="point invalid series-0"[^>]*><path d="M([\d.]+),([\d.]+)', svg)
    assert cross and float(cross.group(2)) > axis
    assert ">invalid</text>" in svg and "invalid (option_mass)" in svg
    # the line joins the valid points only, and a real score of 0 sits on the axis (the scale's bottom)
    line = _found(r'<polyline class="line series-0" points="([^"]+)"', svg)
    assert len(line.split()) == 2 and line.split()[1].endswith(f",{axis:.1f}")
    assert svg.count("<circle") == 2


def test_cutoff_bands_and_escaping() -> None:
    svg = _chart(
        Series("a&b", [Point(0, 5.0)]),
        cutoff=10,
        cutoff_label="caseness cut-off",
        bands=[Band(0, 4, "minimal"), Band(5, 9, "mild <")],
    )
    assert 'class="cutoff"' in svg and "caseness cut-off 10" in svg
    assert svg.count('class="severity"') == 2 and "mild &lt;" in svg and ">a&amp;b</text>" in svg


def test_sparkline_says_why_it_is_empty() -> None:
    invalid = Series("main", [Point(0, None, invalid=["option_mass"])])
    assert "1 invalid run(s), no valid score" in sparkline_svg(invalid, y_range=(0, 27), label="x")
    assert "no scores yet" in sparkline_svg(Series("main", []), y_range=(0, 27), label="x")
    two = Series("main", [Point(0, 3.0), Point(1, 4.0)])
    line = str(sparkline_svg(two, y_range=None, label="phq-9: 3.0"))
    assert line.count("<circle") == 2 and 'aria-label="phq-9: 3.0"' in line


def test_progress_without_a_terminal_prints_plain_lines_and_nothing_when_quiet() -> None:
    stream = io.StringIO()
    with Progress(stream=stream) as progress:
        task = progress.add("assessing", total=2)
        assert task is None and progress.live is None  # not a terminal: no live bar
        progress.update(task, advance=1)
        progress.finish(task)
        progress.line("[1/2] done")
    assert stream.getvalue() == "[1/2] done\n"
    quiet = io.StringIO()
    Progress(quiet=True, stream=quiet).line("hidden")
    assert quiet.getvalue() == ""


def test_progress_on_a_terminal_draws_rich_bars_and_prints_above_them() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    progress = Progress(["text:{task.description}", "bar:10", "count"], stream=stream)
    task = progress.add("assessing", total=2)
    progress.update(task, advance=2)
    progress.line("[2/2] patient: valid")
    progress.close()
    text = stream.getvalue()
    assert "[2/2] patient: valid" in text and "2/2" in text and "assessing" in text


def _side(total: float | None, *, valid: bool = True) -> dict[str, object]:
    reasons = [] if valid else [{"code": "option_mass", "detail": "little mass on the labels"}]
    return {"valid": valid, "total": total, "standard_error": 0.5 if valid else None, "reasons": reasons}


def _trajectory(baseline: dict[str, object], after: dict[str, object]) -> Any:
    """A case view with one session on ``main`` whose loop measured ``after`` (PHQ-9)."""
    from jedi_academy.loop.branches import BranchInfo
    from jedi_academy.loop.trajectory import Baseline, CaseSession, CaseTrajectory, SessionLoop

    loop = SessionLoop(
        loop_id="loop-1", status="done", stopped_at=None, error=None, resume=None, checkpoint_id="ck-1",
        parent_checkpoint_id="ck-0", dataset_id=None, scores={"phq-9": after}, change_vs_previous=None,
        change_vs_baseline=None, therapist_effect=None, therapist_effect_reason=None,
        control_checkpoint_id=None, uncontrolled=True, control=None,
    )  # fmt: skip
    session = CaseSession(
        session_id="s-1", number=1, branch="main", checkpoint_id="ck-0", status="ended", mode="manual",
        seed=1, turns=1, recommendations=0, accepted=0, ignored=0, invalid_preference=0, undecided=0, flags=0,
        started_at="", archived=False, accepted_recommendations=[], ignored_recommendations=[],
        undecided_recommendations=[], invalid_preference_recommendations=[], loop=loop,
    )  # fmt: skip
    return CaseTrajectory(
        id="c-1", therapist=None, therapist_id="t-1", specialization="depression", persona_id="p-1",
        checkpoint_id="ck-1", start_checkpoint_id="ck-0", branch="main", status="open", closed_at=None,
        closure=None, archived=False, protocol=None, baseline_runs=None, sessions=[session], intake=None,
        created_at="", protocol_note="", baseline=Baseline("ck-0", {"phq-9": baseline}),
        branches=[BranchInfo("main", "ck-0", None, None)], checkpoints=[], other_runs=[], therapist_effect={},
        cannot_conclude="",
    )  # fmt: skip


def test_the_reports_draw_with_the_one_renderer_and_keep_invalid_runs_off_the_axis() -> None:
    from jedi_academy.assessment.compare import Comparison, ItemChange, RunSide
    from jedi_academy.assessment.report import comparison_plot, personas_plot
    from jedi_academy.loop.report import trajectory_plot
    from jedi_academy.pipeline.report import training_plot

    def run_side(run: int, total: float | None, *, valid: bool = True) -> RunSide:
        side = _side(total, valid=valid)
        return RunSide(
            run=run, total=total, standard_error=0.5 if valid else None, ci=[None, None], target=None,
            mode="logprob", persona=None, band=None, positive_screen=None, safety_flags=[],
            safety_flag_probabilities={}, valid=valid, reasons=list(side["reasons"]), order_sensitivity=None,
            option_mass=None, missing_share=None,
        )  # fmt: skip

    items = [ItemChange("q1", True, 1.0, 0.5, -0.5), ItemChange("q2", True, 2.0, 1.5, -0.5)]
    comparison = Comparison(
        instrument="phq-9", persona=None, before_run=1, after_run=2, before=run_side(1, None, valid=False),
        after=run_side(2, 9.0), valid=False, mismatches=[], change=None, change_se=None, change_sd_units=None,
        reliable_change={}, items=items,
    )  # fmt: skip
    plots = comparison_plot(comparison)
    assert plots.count("<svg") == 2 and "matplotlib" not in plots
    assert plots.count('<g class="point invalid') == 1 and "invalid (option_mass)" in plots

    rows = [{"persona": "p-1", "runs": {"base": _side(None, valid=False), "patient": _side(12.0)}}]
    personas = personas_plot("phq-9", rows)
    assert personas.count('<g class="point invalid series-0"') == 1 and personas.count("<circle") == 1

    start = {"valid": True, "total": 14.0, "ci95": [12, 16]}
    invalid = {
        "valid": False, "total": None, "ci95": None, "problems": ["x"],
        "validity": {"reasons": [{"code": "option_mass"}]},
    }  # fmt: skip
    view = _trajectory(start, invalid)
    case = trajectory_plot(view, "phq-9")
    axis = int(_found(r'<line class="axis" x1="\d+" y1="(\d+)"', case))
    cross = re.search(r'<g class="point invalid[^>]*><path d="M[\d.]+,([\d.]+)', case)
    assert cross and float(cross.group(1)) > axis and "caseness cut-off" in case and "branch main" in case

    loss = training_plot([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}], [{"step": 2, "loss": 1.7}])
    assert ">training loss</text>" in loss and ">validation loss</text>" in loss
    assert loss.count("<polyline") == 1  # the validation loss has one point: no line
