"""Plain-text lines of the loop's results, shared by its commands and the sections it adds to
``case show``."""

from __future__ import annotations

from typing import Any


def scores_line(scores: dict[str, Any], loop: dict[str, Any] | None = None) -> str:
    """One line of instrument scores (with 95% intervals), and the change a loop made when ``loop`` is
    given."""
    parts = []
    for instrument, score in scores.items():
        if not score["valid"]:
            parts.append(f"{instrument} invalid ({'; '.join(score['problems'])})")
            continue
        text = f"{instrument} {score['total']:.2f} (95% {score['ci95'][0]:.2f}-{score['ci95'][1]:.2f})"
        if loop is not None:
            for label, key in (("vs previous", "change_vs_previous"), ("vs baseline", "change_vs_baseline")):
                change = loop[key][instrument]
                if change["classification"] is not None:
                    text += f", {label} {change['change']:+.2f} {change['classification']}"
        parts.append(text)
    return "; ".join(parts)


# Why a follow-up conversation (or the session's own) was left out of the expansion, as words.
LEFT_OUT = {
    "undecided": "follow-up(s) not written: the patient never decided on the recommendation",
    "contaminated": "follow-up(s) whose answers kept reproducing instrument wording",
    "leak": "follow-up(s) whose answers kept repeating the persona's own Reddit comments",
    "self_cure": "follow-up(s) whose answers kept claiming a sudden cure",
    "empty": "follow-up(s) whose answers kept coming back empty",
    "empty_session": "session conversation: the session has no answered turn",
    "session_all_turns_removed": "session conversation: every turn was left out (named below)",
    "session_contaminated": "session conversation, stored whole and flagged by an earlier version",
}


def left_out_text(left_out: dict[str, int]) -> str:
    """``{'undecided': 1}`` as ``left out 1 follow-up(s) not written: ...``; never a Python dict."""
    if not left_out:
        return "nothing left out"
    parts = [f"{n} {LEFT_OUT.get(why, why.replace('_', ' '))}" for why, n in sorted(left_out.items())]
    return "left out " + "; ".join(parts)


def removed_turn_line(removed: dict[str, Any]) -> str:
    """One session turn kept out of training, named by turn and instrument item."""
    who = "the therapist's words" if removed["speaker"] == "therapist" else "the patient's reply"
    if removed["reason"] == "contaminated":
        items = " and ".join(_item_name(item) for item in removed["items"])
        why = f"{who} reproduce{'s' if removed['speaker'] == 'patient' else ''} the wording of {items}"
    else:
        why = f"{who} repeats the persona's own Reddit comments"
    return f"session turn {removed['turn']} left out of training: {why}"


def _item_name(item: str) -> str:
    instrument, _, where = item.partition(" ")
    return f"{instrument.upper()} {where}".strip()


def leak_check_line(expansion: dict[str, Any]) -> str:
    """Whether the patient's generated text was compared with the persona's own Reddit comments, and if not,
    why."""
    if expansion.get("leak_checked"):
        source = expansion.get("leak_source")
        where = f" ({source})" if source else ""
        return f"leak check: ran against the persona's own Reddit comments{where}"
    reason = expansion.get("leak_not_checked") or "the persona's own Reddit comments were not found"
    return f"leak check: NOT run: {reason}"


def expansion_lines(expansion: dict[str, Any]) -> list[str]:
    """What the loop's guards did: the leak check, then every session turn left out of training."""
    return [leak_check_line(expansion), *(removed_turn_line(r) for r in expansion.get("removed_turns") or [])]
