"""The case's trajectory from real assessments of the tiny patient, and its SVG."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import make_site


@pytest.fixture(scope="module")
def assessed(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Any:
    """A site whose start checkpoint was assessed on PHQ-9 for Ada's case persona, for real."""
    from jedi_academy.assessment.runner import assess, checkpoint_target

    _app, site = make_site(tmp_path_factory.mktemp("trajectory"), tiny_dir, tiny_llm)
    target = checkpoint_target(
        site.settings, site.database, "ck-tinybase0001", {("transformers", str(tiny_dir)): tiny_llm}
    )
    run = assess(site.settings, site.database, target, "phq-9", persona_id="p-robin")
    return site, run


def test_a_scored_checkpoint_is_a_point_with_its_interval(assessed: Any) -> None:
    from jedi_academy.loop.trajectory import trajectory_chart
    from jedi_academy.web.charts import sparkline_svg, trajectory_svg

    site, run = assessed
    trajectory = trajectory_chart(site.database, site.ada.case_id)
    assert trajectory.instrument == "phq-9"
    assert trajectory.cutoff == 10 and trajectory.score_range == (0.0, 27.0)
    [branch] = trajectory.branches
    assert branch.name == "main"
    [point] = branch.points
    assert point.checkpoint_id == "ck-tinybase0001"
    assert branch.change is None  # one checkpoint: no change to classify
    svg = str(trajectory_svg(trajectory))
    assert svg.count('class="point') == 1 and 'data-checkpoint="ck-tinybase0001"' in svg
    assert 'class="cutoff"' in svg and "cut-off 10" in svg
    assert "<script" not in svg
    validity = run.result["validity"]
    if validity["valid"]:
        assert (point.total, point.ci_low, point.ci_high) == (run.total, run.ci_low, run.ci_high)
        assert re.search(r"phq-9: \d+\.\d", str(sparkline_svg(trajectory)))
    else:  # the random tiny model answers off the labels: its run is invalid and never drawn as a score
        assert point.total is None and point.invalid == [r["code"] for r in validity["reasons"]]
        assert 'class="point invalid' in svg and "invalid (" in svg and "<polyline" not in svg
        # a labelled cross below the score axis (whose bottom line is the score 0), never a point
        axis = re.search(r'<line class="axis" x1="\d+" y1="(\d+)"', svg)
        cross = re.search(r'class="point invalid[^>]*><path d="M[\d.]+,(\d+)', svg)
        assert axis and cross and int(cross.group(1)) > int(axis.group(1)) and ">invalid</text>" in svg
        assert '<circle class="point' not in svg
        assert "invalid run(s), no valid score" in str(sparkline_svg(trajectory))


def test_an_invalid_run_is_never_a_score(assessed: Any) -> None:
    from jedi_academy.loop.trajectory import trajectory_chart
    from jedi_academy.store.models import AssessmentRun

    site, run = assessed
    with site.database.session() as session:
        stored = session.get(AssessmentRun, run.id)
        original = dict(stored.result)
        stored.result = {**original, "validity": {"valid": False, "reasons": [{"code": "option_mass"}]}}
    [point] = trajectory_chart(site.database, site.ada.case_id).branches[0].points
    assert point.total is None and point.invalid == ["option_mass"]
    with site.database.session() as session:
        stored = session.get(AssessmentRun, run.id)
        stored.result = {**original, "validity": {"valid": True, "reasons": []}}
    [point] = trajectory_chart(site.database, site.ada.case_id).branches[0].points
    assert point.total == run.total and point.invalid is None
    with site.database.session() as session:
        session.get(AssessmentRun, run.id).result = original


def test_an_unscored_checkpoint_is_a_gap_not_a_zero(assessed: Any) -> None:
    from jedi_academy.loop.trajectory import trajectory_chart
    from jedi_academy.web.charts import sparkline_svg, trajectory_svg

    site, _run = assessed
    from jedi_academy.store.models import AssessmentRun

    with site.database.session() as session:
        for row in session.query(AssessmentRun).all():
            session.delete(row)
    trajectory = trajectory_chart(site.database, site.bob.case_id)
    assert [p.total for p in trajectory.branches[0].points] == [None]
    assert "<circle" not in str(trajectory_svg(trajectory))
    assert "no scores yet" in str(sparkline_svg(trajectory))
