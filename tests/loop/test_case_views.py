"""The case views' and the jobs' typed results without a model: the tree's text, and the ``--json`` form of
each result (its keys in the order `academy case tree|compare --json` and `academy jobs --json` print)."""

from __future__ import annotations

import json

from jedi_academy.loop.jobs import JobRecord
from jedi_academy.loop.trajectory import (
    BranchComparison,
    BranchLine,
    CaseTree,
    PendingSession,
    TreeNode,
    render_tree,
)


def _score(total: float, valid: bool = True) -> dict[str, object]:
    return {"total": total, "ci95": [total - 1.0, total + 1.0], "valid": valid}


def _tree() -> TreeNode:
    pending = PendingSession(None, 3, "branch-2", "active", [])
    child = TreeNode(
        checkpoint_id="ck-child",
        session=1,
        branch="main",
        branches_start=[],
        scores={"phq-9": _score(12.0)},
        change_vs_previous={"phq-9": {"change": -3.0, "classification": "reliable improvement"}},
        children=[],
    )
    invalid = TreeNode("ck-other", 2, "branch-2", [], {"phq-9": _score(0.0, valid=False)}, None, [])
    return TreeNode("ck-start", None, "main", ["branch-2"], {"phq-9": _score(15.0)}, None,
                    [child, invalid, pending])  # fmt: skip


def test_the_tree_text_labels_checkpoints_sessions_without_a_loop_and_branch_starts() -> None:
    assert render_tree(_tree()).splitlines() == [
        "ck-start (baseline)  phq-9 15.0 [14.0-16.0]  <- branch-2 start(s) here",
        "├── session 1 [main] -> ck-child  phq-9 12.0 [11.0-13.0] -3.0 reliable improvement",
        "├── session 2 [branch-2] -> ck-other  phq-9 invalid",
        "└── session 3 [branch-2] active, no loop yet",
    ]


def test_the_tree_json_is_plain_with_each_node_kind_keyed_as_before() -> None:
    tree = _tree()
    data = json.loads(json.dumps(CaseTree("case-1", "branch-2", tree, render_tree(tree)).as_dict()))
    assert list(data) == ["case_id", "current_branch", "tree", "text"]
    root = data["tree"]
    node_keys = [
        "checkpoint_id", "session", "branch", "branches_start", "scores", "change_vs_previous", "children"
    ]  # fmt: skip
    assert list(root) == node_keys and list(root["children"][0]) == node_keys
    assert root["children"][2] == {
        "checkpoint_id": None, "session": 3, "branch": "branch-2", "status": "active", "children": []
    }  # fmt: skip


def test_the_comparison_json_keeps_its_keys_and_the_differences_keyed_by_branch() -> None:
    scores = {"phq-9": _score(12.0)}
    line = BranchLine("main", "ck-start", None, [1], "ck-child", scores, None, 2, 3, 0, 2 / 3)
    other = BranchLine("branch-2", "ck-start", None, [2], None, None, None, 0, 0, 1, None)
    difference = {"phq-9": {"main": 12.0, "branch-2": 14.0, "difference": 2.0, "classification": None,
                            "note": None}}  # fmt: skip
    result = BranchComparison("case-1", [line, other], difference, "branch-2 minus main", "one patient")
    data = result.as_dict()
    assert list(data) == ["case_id", "branches", "difference", "difference_direction", "cannot_conclude"]
    assert list(data["branches"][0]) == [
        "branch", "from_checkpoint_id", "after_session", "sessions", "final_checkpoint_id", "final_scores",
        "change_vs_baseline", "recommendations_accepted", "recommendations_decided",
        "recommendations_invalid_preference", "acceptance_rate",
    ]  # fmt: skip
    assert data["branches"][1]["acceptance_rate"] is None and data["difference"] == difference


def test_a_job_record_prints_the_jobs_columns_in_order() -> None:
    job = JobRecord("j-1", "loop", {"session_id": "s-1"}, "queued", {}, None, None, None, 0,
                    "2026-01-01T00:00:00", None, None, None)  # fmt: skip
    assert list(job.as_dict()) == [
        "id", "kind", "args", "status", "progress", "result", "error", "worker", "attempts", "created_at",
        "started_at", "heartbeat_at", "finished_at",
    ]  # fmt: skip
