"""The therapist's view of a case: the session-wise trajectory, branches from earlier checkpoints, the tree of
checkpoints and sessions, and the comparison of two branches.

A case's checkpoints are its first (the baseline) and every child a loop made after one of its sessions. A
branch is a line of sessions started from one of them (``main`` from the first); a session grows the branch
the case was on when it started, so returning to an earlier checkpoint and working on gives a sibling.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from jedi_academy.errors import AcademyError
from jedi_academy.store.models import Case, CaseBranch, LoopRun, Recommendation, TherapySession

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from jedi_academy.store import Database

MAIN = "main"
ONE_PATIENT = (
    "one simulated patient: a difference between branches beyond the instrument's reliable-change threshold "
    "says the two lines of sessions left this patient model measurably apart, not that one approach works "
    "better for people; that needs many personas (`academy experiment therapists`)"
)


def _case(session: Session, case_id: str) -> Case:
    from jedi_academy.sessions.records import get_case

    return get_case(session, case_id)


def _loops(session: Session, case_id: str) -> dict[str, LoopRun]:
    rows = session.scalars(select(LoopRun).where(LoopRun.case_id == case_id))
    return {loop.session_id: loop for loop in rows}


def _branches(session: Session, case: Case) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CaseBranch).where(CaseBranch.case_id == case.id).order_by(CaseBranch.created_at, CaseBranch.id)
    )
    found = [
        {
            "name": MAIN,
            "from_checkpoint_id": case.start_checkpoint_id,
            "parent_branch": None,
            "after_session": None,
        }
    ]
    found += [
        {
            "name": b.name,
            "from_checkpoint_id": b.from_checkpoint_id,
            "parent_branch": b.parent_branch,
            "after_session": b.after_session,
        }
        for b in rows
    ]
    return found


def _recommendations(session: Session, session_id: str) -> dict[str, list[str]]:
    rows = list(
        session.scalars(
            select(Recommendation)
            .where(Recommendation.session_id == session_id)
            .order_by(Recommendation.index)
        )
    )
    return {
        "accepted": [r.text for r in rows if r.accepted is True],
        "ignored": [r.text for r in rows if r.accepted is False],
        "undecided": [r.text for r in rows if r.accepted is None],
    }


def _loop_view(loop: LoopRun | None) -> dict[str, Any] | None:
    if loop is None:
        return None
    assessment = loop.assessment or {}
    return {
        "loop_id": loop.id,
        "status": loop.status,
        "checkpoint_id": loop.checkpoint_id,
        "parent_checkpoint_id": loop.parent_checkpoint_id,
        "dataset_id": loop.dataset_id,
        "scores": assessment.get("scores"),
        "change_vs_previous": assessment.get("change_vs_previous"),
        "change_vs_baseline": assessment.get("change_vs_baseline"),
    }


def case_trajectory(database: Database, case_id: str) -> dict[str, Any]:
    """``academy case show --json``: the sessions stage's case view plus its branches, its checkpoint chain
    and, per session, the recommendations accepted and ignored and the scores after its loop (with
    uncertainty, validity, change and reliable change)."""
    from jedi_academy.sessions.records import show_case

    view = show_case(database, case_id)
    with database.session() as session:
        case = _case(session, view["id"])
        loops = _loops(session, case.id)
        by_id = {
            s.id: s for s in session.scalars(select(TherapySession).where(TherapySession.case_id == case.id))
        }
        baseline = None
        for loop in sorted(loops.values(), key=lambda item: item.created_at):
            if (loop.assessment or {}).get("baseline_scores"):
                baseline = loop.assessment["baseline_scores"]
                break
        view["baseline"] = {"checkpoint_id": case.start_checkpoint_id, "scores": baseline}
        view["branches"] = _branches(session, case)
        for row in view["sessions"]:
            recs = _recommendations(session, row["session_id"])
            row["accepted_recommendations"] = recs["accepted"]
            row["ignored_recommendations"] = recs["ignored"]
            row["undecided_recommendations"] = recs["undecided"]
            row["loop"] = _loop_view(loops.get(row["session_id"]))
        view["checkpoints"] = [
            {
                "checkpoint_id": case.start_checkpoint_id,
                "parent_checkpoint_id": None,
                "session": None,
                "branch": MAIN,
                "dataset_id": None,
            }
        ] + [
            {
                "checkpoint_id": loop.checkpoint_id,
                "parent_checkpoint_id": loop.parent_checkpoint_id,
                "session": by_id[loop.session_id].number,
                "branch": loop.branch,
                "dataset_id": loop.dataset_id,
            }
            for loop in sorted(loops.values(), key=lambda item: by_id[item.session_id].number)
            if loop.checkpoint_id
        ]
        view["cannot_conclude"] = (
            "each score is one simulated patient model's answers after a loop; without the scripted "
            "therapist control (`academy experiment therapists`) a change cannot be credited to the therapist"
        )
        return view


def _case_checkpoints(session: Session, case: Case) -> dict[str, int | None]:
    """Checkpoint id -> the session whose loop made it (None for the case's first)."""
    found: dict[str, int | None] = {case.start_checkpoint_id: None}
    rows = session.execute(
        select(LoopRun.checkpoint_id, TherapySession.number)
        .join(TherapySession, TherapySession.id == LoopRun.session_id)
        .where(LoopRun.case_id == case.id, LoopRun.checkpoint_id.is_not(None))
    )
    for checkpoint, number in rows:
        found[checkpoint] = number
    return found


def branch_case(
    database: Database,
    case_id: str,
    *,
    at: str | None = None,
    after_session: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Start a new branch of the case from one of its checkpoints; later sessions grow it."""
    from jedi_academy.sessions.records import set_case_checkpoint

    if (at is None) == (after_session is None):
        raise AcademyError("give exactly one of --at CHECKPOINT or --after-session N")
    with database.session() as session:
        case = _case(session, case_id)
        unfinished = session.scalars(
            select(TherapySession.id).where(
                TherapySession.case_id == case.id, TherapySession.status != "ended"
            )
        ).first()
        if unfinished is not None:
            raise AcademyError(
                f"case {case.id} has an unfinished session {unfinished}",
                f"end it first: `academy session end {unfinished}`",
            )
        checkpoints = _case_checkpoints(session, case)
        if after_session is not None:
            row = session.scalars(
                select(TherapySession).where(
                    TherapySession.case_id == case.id, TherapySession.number == after_session
                )
            ).first()
            if row is None:
                raise AcademyError(f"case {case.id} has no session {after_session}")
            loop = session.scalars(select(LoopRun).where(LoopRun.session_id == row.id)).first()
            if loop is None or loop.checkpoint_id is None:
                raise AcademyError(
                    f"session {after_session} has no re-fine-tuned checkpoint yet",
                    f"run `academy loop --session {row.id}` first",
                )
            chosen = loop.checkpoint_id
        else:
            assert at is not None
            matches = [c for c in checkpoints if c == at or c.startswith(at)]
            if len(matches) != 1:
                known = ", ".join(checkpoints)
                raise AcademyError(
                    f"checkpoint {at!r} is {'ambiguous' if matches else 'not one of'} case {case.id}'s",
                    f"the case's checkpoints: {known}",
                )
            chosen = matches[0]
        count = session.scalar(
            select(func.count()).select_from(CaseBranch).where(CaseBranch.case_id == case.id)
        )
        name = name or f"branch-{(count or 0) + 2}"
        if (
            name == MAIN
            or session.scalars(
                select(CaseBranch).where(CaseBranch.case_id == case.id, CaseBranch.name == name)
            ).first()
        ):
            raise AcademyError(f"case {case.id} already has a branch {name!r}", "choose another --name")
        session.add(
            CaseBranch(
                case_id=case.id,
                name=name,
                from_checkpoint_id=chosen,
                parent_branch=case.current_branch,
                after_session=checkpoints[chosen],
            )
        )
    set_case_checkpoint(database, case.id, chosen, branch=name)
    return {
        "case_id": case.id,
        "branch": name,
        "from_checkpoint_id": chosen,
        "after_session": checkpoints[chosen],
        "parent_branch": case.current_branch,
    }


def switch_branch(database: Database, case_id: str, name: str) -> dict[str, Any]:
    """Continue an existing branch: later sessions run on its newest checkpoint."""
    from jedi_academy.sessions.records import set_case_checkpoint

    view = case_trajectory(database, case_id)
    branch = next((b for b in view["branches"] if b["name"] == name), None)
    if branch is None:
        known = ", ".join(b["name"] for b in view["branches"])
        raise AcademyError(f"case {view['id']} has no branch {name!r}", f"its branches: {known}")
    latest = branch["from_checkpoint_id"]
    for row in view["sessions"]:
        if row["branch"] == name and row["loop"] and row["loop"]["checkpoint_id"]:
            latest = row["loop"]["checkpoint_id"]
    set_case_checkpoint(database, view["id"], latest, branch=name)
    return {"case_id": view["id"], "branch": name, "checkpoint_id": latest}


# ---------------------------------------------------------------- tree


def _score_text(scores: dict[str, Any] | None, changes: dict[str, Any] | None = None) -> str:
    if not scores:
        return ""
    parts = []
    for instrument, score in scores.items():
        if not score["valid"]:
            parts.append(f"{instrument} invalid")
            continue
        low, high = score["ci95"]
        text = f"{instrument} {score['total']:.1f} [{low:.1f}-{high:.1f}]"
        change = (changes or {}).get(instrument)
        if change and change.get("classification"):
            text += f" {change['change']:+.1f} {change['classification']}"
        parts.append(text)
    return "  " + "; ".join(parts)


def case_tree(database: Database, case_id: str) -> dict[str, Any]:
    """The case's checkpoints as a tree: each child under the checkpoint its session ran on, labelled with the
    session, its branch and the scores after its loop; sessions without a loop yet hang under theirs."""
    view = case_trajectory(database, case_id)
    children: dict[str, list[dict[str, Any]]] = {}
    for row in view["sessions"]:
        children.setdefault(row["checkpoint_id"], []).append(row)
    starts: dict[str, list[str]] = {}
    for branch in view["branches"][1:]:
        starts.setdefault(branch["from_checkpoint_id"], []).append(branch["name"])

    def node(checkpoint: str, session_row: dict[str, Any] | None) -> dict[str, Any]:
        loop = session_row["loop"] if session_row else None
        kids = []
        for row in children.get(checkpoint, []):
            if row["loop"] and row["loop"]["checkpoint_id"]:
                kids.append(node(row["loop"]["checkpoint_id"], row))
            else:
                kids.append({"checkpoint_id": None, "session": row["number"], "branch": row["branch"],
                             "status": row["status"], "children": []})  # fmt: skip
        return {
            "checkpoint_id": checkpoint,
            "session": session_row["number"] if session_row else None,
            "branch": session_row["branch"] if session_row else MAIN,
            "branches_start": starts.get(checkpoint, []),
            "scores": loop["scores"] if loop else view["baseline"]["scores"],
            "change_vs_previous": loop["change_vs_previous"] if loop else None,
            "children": kids,
        }

    root = node(view["start_checkpoint_id"], None)
    return {"case_id": view["id"], "current_branch": view["branch"], "tree": root, "text": render_tree(root)}


def render_tree(root: dict[str, Any]) -> str:
    lines = [f"{root['checkpoint_id']} (baseline){_score_text(root['scores'])}" + _starts(root)]

    def walk(node: dict[str, Any], prefix: str) -> None:
        for index, child in enumerate(node["children"]):
            last = index == len(node["children"]) - 1
            if child["checkpoint_id"] is None:
                label = f"session {child['session']} [{child['branch']}] {child['status']}, no loop yet"
            else:
                label = (
                    f"session {child['session']} [{child['branch']}] -> {child['checkpoint_id']}"
                    f"{_score_text(child['scores'], child['change_vs_previous'])}{_starts(child)}"
                )
            lines.append(prefix + ("└── " if last else "├── ") + label)
            walk(child, prefix + ("    " if last else "│   "))

    walk(root, "")
    return "\n".join(lines)


def _starts(node: dict[str, Any]) -> str:
    return f"  <- {', '.join(node['branches_start'])} start(s) here" if node.get("branches_start") else ""


# ---------------------------------------------------------------- compare


def _branch_line(view: dict[str, Any], name: str) -> dict[str, Any]:
    branch = next((b for b in view["branches"] if b["name"] == name), None)
    if branch is None:
        known = ", ".join(b["name"] for b in view["branches"])
        raise AcademyError(f"case {view['id']} has no branch {name!r}", f"its branches: {known}")
    rows = [r for r in view["sessions"] if r["branch"] == name]
    looped = [r for r in rows if r["loop"] and r["loop"]["status"] == "done"]
    accepted = sum(len(r["accepted_recommendations"]) for r in rows)
    decided = accepted + sum(len(r["ignored_recommendations"]) for r in rows)
    final = looped[-1]["loop"] if looped else None
    return {
        "branch": name,
        "from_checkpoint_id": branch["from_checkpoint_id"],
        "after_session": branch["after_session"],
        "sessions": [r["number"] for r in rows],
        "final_checkpoint_id": final["checkpoint_id"] if final else None,
        "final_scores": final["scores"] if final else None,
        "change_vs_baseline": final["change_vs_baseline"] if final else None,
        "recommendations_accepted": accepted,
        "recommendations_decided": decided,
        "acceptance_rate": accepted / decided if decided else None,
    }


def compare_branches(database: Database, case_id: str, first: str, second: str) -> dict[str, Any]:
    """Two approaches on the same patient: each branch's latest scores and change from the baseline, and
    whether their difference exceeds the instrument's reliable-change threshold."""
    from jedi_academy.loop.reassess import change_json

    view = case_trajectory(database, case_id)
    a, b = _branch_line(view, first), _branch_line(view, second)
    differences = {}
    for instrument in sorted(set(a["final_scores"] or {}) & set(b["final_scores"] or {})):
        result = change_json(instrument, a["final_scores"][instrument], b["final_scores"][instrument])
        differences[instrument] = {
            first: a["final_scores"][instrument]["total"],
            second: b["final_scores"][instrument]["total"],
            "difference": result["change"],  # second minus first
            "classification": result["classification"],
            "note": result.get("note"),
        }
    return {
        "case_id": view["id"],
        "branches": [a, b],
        "difference": differences,
        "difference_direction": f"{second} minus {first}; the classification reads {second} against {first}",
        "cannot_conclude": ONE_PATIENT,
    }
