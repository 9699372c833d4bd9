"""The control arm in the case's views: per session the control child and the therapist effect
(``case show``, the web case page, the case report), the case's effect along its current line of sessions,
and the control series of the trajectory chart (the second line beside the therapist's)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.instruments.effect import case_effect, effect_text
from jedi_academy.loop.control import effect_fields
from jedi_academy.results import Result

if TYPE_CHECKING:
    from jedi_academy.store.models import LoopRun

CANNOT_CONCLUDE = (
    "each score is one simulated patient model's answers after a loop; the therapist effect sets each "
    "session's change against a no-therapist control child trained from the same parent with the same budget "
    "(difference-in-differences on one persona): it credits this patient model's change to the sessions, not "
    "a real client's"
)


@dataclass(frozen=True)
class LoopControlView(Result):
    """The fields a session's loop view adds: the therapist effect (:class:`loop.control.TherapistEffect`'s
    fields) and the control child with its scores (None before the control arm ran)."""

    therapist_effect: dict[str, dict[str, Any]] | None
    therapist_effect_reason: str | None
    control_checkpoint_id: str | None
    uncontrolled: bool
    control: dict[str, Any] | None  # status, checkpoint_id, scores, change_vs_previous


def loop_control_view(loop: LoopRun) -> LoopControlView:
    control = loop.control or {}
    assessment = control.get("assessment") or {}
    effect = effect_fields(loop.control)
    return LoopControlView(
        therapist_effect=effect.therapist_effect,
        therapist_effect_reason=effect.therapist_effect_reason,
        control_checkpoint_id=effect.control_checkpoint_id,
        uncontrolled=effect.uncontrolled,
        control=None if not control else {
            "status": control.get("status"),
            "checkpoint_id": control.get("checkpoint_id"),
            "scores": assessment.get("scores"),
            "change_vs_previous": assessment.get("change_vs_previous"),
        },
    )  # fmt: skip


def line_sessions(view: dict[str, Any]) -> list[dict[str, Any]]:
    """The session rows of the case's current line: its branch, preceded by the main-line sessions it branched
    from (as the portfolio reads a case)."""
    rows = [r for r in view["sessions"] if r["status"] == "ended"]
    line = [r for r in rows if r["branch"] == view["branch"]]
    if view["branch"] != "main":
        start = min((r["number"] for r in line), default=None)
        line = [r for r in rows if r["branch"] == "main" and (start is None or r["number"] < start)] + line
    return line


def case_line_effect(view: dict[str, Any]) -> dict[str, Any]:
    """Per instrument, the sum of the effects of the current line's sessions (loop/effect.case_effect); an
    uncontrolled or unmeasured session leaves the case without one, with the reason."""
    from jedi_academy.instruments import load_instrument

    rows = line_sessions(view)
    instruments = sorted({i for r in rows if r["loop"] for i in (r["loop"].get("scores") or {})})
    out = {}
    for instrument in instruments:
        effects: list[tuple[int, dict[str, Any] | None]] = []
        for row in rows:
            loop = row["loop"]
            if loop is None or loop["status"] != "done":
                effects.append((row["number"], None))
            elif loop["uncontrolled"]:
                effects.append((row["number"], {"effect": None, "reason": loop["therapist_effect_reason"]}))
            else:
                effects.append((row["number"], (loop["therapist_effect"] or {}).get(instrument)))
        spec = load_instrument(instrument).change
        out[instrument] = case_effect(effects, higher_is_worse=spec.higher_is_worse if spec else True)
    return out


def effect_lines(view: dict[str, Any]) -> list[str]:
    """The therapist effect in ``case show``'s text: per session and for the case's line."""
    lines = []
    for row in view["sessions"]:
        loop = row.get("loop")
        if not loop or loop["status"] != "done":
            continue
        if loop["uncontrolled"]:
            lines.append(f"  session {row['number']} [{row['branch']}]: uncontrolled (--no-control)")
            continue
        for instrument, effect in (loop["therapist_effect"] or {}).items():
            lines.append(
                f"  session {row['number']} [{row['branch']}] {instrument}: {effect_text(effect)}"
                f" (control {loop['control_checkpoint_id']})"
            )
    for instrument, effect in (view.get("therapist_effect") or {}).items():
        lines.append(f"  case, {view['branch']} line, {instrument}: {effect_text(effect)}")
    return lines


def control_series(
    view: dict[str, Any], instrument: str, therapist: dict[str, list[dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Per branch, the control line of the report's chart: the branch's first point (``therapist``: the
    report's branch series), then each session's control child at that session."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, points in therapist.items():
        line = points[:1]
        for row in view["sessions"]:
            control = (row["loop"] or {}).get("control") if row["branch"] == name else None
            score = ((control or {}).get("scores") or {}).get(instrument)
            if score is not None:
                line.append({"session": row["number"], **score})
        if len(line) > len(points[:1]):
            out[name] = line
    return out


def effect_section(view: dict[str, Any]) -> str:
    """The case report's "Therapist effect" section (HTML)."""
    import html

    effects = view["therapist_effect"].items()
    items = "".join(f"<li>{html.escape(i)}: {html.escape(effect_text(e))}</li>" for i, e in effects)
    cells = "<tr><td>{}</td><td>{}</td><td>{}</td></tr>"
    rows = "".join(cells.format(n, html.escape(b), html.escape(t)) for n, b, t in _effect_rows(view))
    return (
        f"<p>Along branch {html.escape(view['branch'])}: each session's change minus the change of its "
        "no-therapist control child (same parent, budget and seed; neutral conversations), summed, with the "
        f"95% interval from the measurements' standard errors.</p><ul>{items or '<li>no loop yet</li>'}</ul>"
        f"<table><tr><th>session</th><th>branch</th><th>therapist effect</th></tr>{rows}</table>"
    )


def _effect_rows(view: dict[str, Any]) -> list[tuple[int, str, str]]:
    """(session, branch, effect text) for the report's table."""
    rows = []
    for row in view["sessions"]:
        loop = row.get("loop")
        if not loop or loop["status"] != "done":
            text = "-"
        elif loop["uncontrolled"]:
            text = "uncontrolled"
        else:
            text = "; ".join(f"{i} {effect_text(e)}" for i, e in (loop["therapist_effect"] or {}).items())
        rows.append((row["number"], row["branch"], text or "-"))
    return rows
