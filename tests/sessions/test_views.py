"""The sessions stage's typed results: their ``as_dict()`` is the ``--json`` form, the stages' sections join
after the record's own fields, and a case's ``sessions`` is a count in lists and the sessions themselves in
``case show``."""

from __future__ import annotations

import json
from typing import Any

from jedi_academy.cli_kit import print_json
from jedi_academy.hooks import Section
from jedi_academy.sessions.views import CaseView, SessionSummary, TherapistDisabled, with_sections


def _case(sessions: Any) -> CaseView[Any]:
    return CaseView(
        id="case-1", therapist="Ada", therapist_id="t-1", specialization="depression", persona_id="p-1",
        checkpoint_id="ck-2", start_checkpoint_id="ck-1", branch="main", status="open", closed_at=None,
        closure=None, archived=False, protocol=None, baseline_runs={"phq-9": 3}, sessions=sessions,
        intake={"age": 30}, created_at="2026-12-07T10:00:00+00:00",
    )  # fmt: skip


SUMMARY = SessionSummary(
    session_id="s-1", number=1, branch="main", checkpoint_id="ck-1", status="ended", mode="replay", seed=3,
    turns=4, recommendations=2, accepted=1, ignored=0, invalid_preference=1, undecided=0, flags=0,
    started_at="2026-12-07T10:05:00+00:00", archived=False,
)  # fmt: skip


def test_a_case_lists_a_count_and_shows_its_sessions_in_the_same_place() -> None:
    listed, shown = _case(1).as_dict(), _case([SUMMARY]).as_dict()
    assert list(listed) == list(shown)  # one key order: `sessions` between baseline_runs and intake
    assert list(listed)[-3:] == ["sessions", "intake", "created_at"]
    assert listed["sessions"] == 1 and shown["sessions"] == [SUMMARY.as_dict()]
    assert shown["sessions"][0]["invalid_preference"] == 1


def test_sections_follow_the_record_and_their_lines_keep_their_order() -> None:
    sections = [
        Section({"feedback": None, "status": "coded"}, ["first"]),
        None,  # a stage with nothing to add
        Section({"job": {"id": "j-1"}}, ["second", "third"]),
    ]
    shown = with_sections(_case(0), sections)
    view = shown.as_dict()
    assert list(view)[-2:] == ["feedback", "job"] and view["job"] == {"id": "j-1"}
    assert view["status"] == "coded" and list(view).index("status") == 8  # replaced where it stands
    assert shown.lines == ["first", "second", "third"] and shown.record.status == "open"


def test_print_json_prints_a_result_as_its_dict(capsys) -> None:  # type: ignore[no-untyped-def]
    disabled = TherapistDisabled("t-1", "Ada", "2026-12-07T10:00:00+00:00", disabled=True, signed_out=2)
    print_json([disabled])
    printed = json.loads(capsys.readouterr().out)
    assert printed == [
        {"id": "t-1", "name": "Ada", "created_at": disabled.created_at, "disabled": True, "signed_out": 2}
    ]
