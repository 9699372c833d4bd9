"""`academy case close`: the final measurement against the baseline, stored on the case; no more sessions."""

from __future__ import annotations

import json

from jedi_academy.cli import main
from tests.loop.conftest import LoopWorld


def test_close_measures_compares_stores_and_refuses_new_sessions(world: LoopWorld, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main([*world.cli, "case", "close", world.case_id[:9], "--json"]) == 0
    closure = json.loads(capsys.readouterr().out)
    assert closure["case_id"] == world.case_id
    assert closure["baseline_checkpoint_id"] == closure["final_checkpoint_id"] == world.start_checkpoint
    final = closure["final_scores"]["phq-9"]
    assert final["checkpoint_id"] == world.start_checkpoint and final["run_id"] is not None
    change = closure["change_vs_baseline"]["phq-9"]
    if final["valid"]:  # no loop ran: the final checkpoint is the baseline, measured once, no change
        assert change["change"] == 0 and closure["baseline_scores"]["phq-9"]["run_id"] == final["run_id"]
    else:
        assert change["change"] is None and "invalid" in change["note"]
    # no loop ran, so no control child either: no effect, and the note says why
    assert closure["therapist_effect"] is None
    note = closure["therapist_effect_note"]
    assert note.startswith("no therapist effect: no session of the case has a loop")

    assert main([*world.cli, "case", "show", world.case_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "closed" and shown["closure"] == closure and shown["sessions"]
    assert main([*world.cli, "case", "show", world.case_id]) == 0
    assert f"case {world.case_id} closed" in capsys.readouterr().out
    report = tmp_path / "case.html"
    assert main([*world.cli, "case", "report", world.case_id, "--out", str(report)]) == 0
    capsys.readouterr()
    assert "Final evaluation (case closed)" in report.read_text(encoding="utf-8")

    script = tmp_path / "s.jsonl"
    script.write_text('{"therapist": "Hello again."}\n', encoding="utf-8")
    replay = ["session", "replay", "--case", world.case_id, "--script", str(script), "--seed", "1"]
    assert main([*world.cli, *replay, "--no-feedback", "--json"]) == 1
    assert f"case {world.case_id} is closed" in capsys.readouterr().err
    assert main([*world.cli, "case", "close", world.case_id]) == 1
    assert "is already closed" in capsys.readouterr().err

    # the portfolio says the case is closed, and verifies
    folder = tmp_path / "portfolio"
    assert main([*world.cli, "portfolio", "build", "--therapist", "Ada Lovelace", "--out", str(folder)]) == 0
    capsys.readouterr()
    body = json.loads((folder / "portfolio.json").read_text(encoding="utf-8"))["body"]
    assert [c["closed_at"] for c in body["cases"]] == [closure["closed_at"]]
    assert f"closed {closure['closed_at']}" in (folder / "index.html").read_text(encoding="utf-8")
    code = main([*world.cli, "portfolio", "verify", str(folder)])
    assert code in (0, 3) and "FAIL" not in capsys.readouterr().out  # 3: verified, signer untrusted
