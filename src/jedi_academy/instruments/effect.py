"""The therapist effect of one loop iteration, and of a case's line of sessions: pure arithmetic.

Difference-in-differences on one persona: after session k the therapist child T and the no-therapist control
child C are both trained from the same parent P with the same budget, so

    effect = (T - P) - (C - P) = T - C

The parent's measurement cancels (it is the same run on both sides); only the two children's measurements
carry uncertainty, and they are independent administrations, so the effect's standard error is
sqrt(se_T^2 + se_C^2) and its 95% interval effect +/- 1.96 * se. The interval covers measurement noise only,
not how differently another training seed would have moved either child (see docs/loop.md, "limits").

A case's effect over several sessions is the sum of its sessions' effects (each iteration's control starts
from the therapist child of the iteration before), with the variances added. Any session without an effect
(uncontrolled, an invalid measurement, no loop) leaves the case without one, and says why.

Used by the loop (loop/control.py), the trajectory, the case report and the portfolio; the portfolio's
verifier recomputes the same numbers with these functions.
"""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959963984540054
BETTER = "therapist better than control"
WORSE = "therapist worse than control"
NO_DIFFERENCE = "no difference beyond measurement noise"
NO_INTERVAL = "no interval (a measurement has no standard error)"


def session_effect(
    therapist: dict[str, Any],
    control: dict[str, Any],
    parent: dict[str, Any] | None = None,
    *,
    higher_is_worse: bool = True,
) -> dict[str, Any]:
    """The effect from the therapist child's and the control child's measurements
    (``reassess.measurement_json`` shape: valid, total, standard_error, problems); ``parent`` adds the two raw
    changes for display."""
    for side, measured in (("therapist child", therapist), ("control child", control)):
        if not measured.get("valid") or measured.get("total") is None:
            because = "; ".join(measured.get("problems") or []) or "no valid total"
            return no_effect(f"the {side}'s measurement is invalid ({because})")
    effect = float(therapist["total"]) - float(control["total"])
    result = _with_interval(effect, [therapist.get("standard_error"), control.get("standard_error")],
                            higher_is_worse)  # fmt: skip
    result["therapist_total"] = therapist["total"]
    result["control_total"] = control["total"]
    if parent is not None and parent.get("valid") and parent.get("total") is not None:
        result["therapist_change"] = float(therapist["total"]) - float(parent["total"])
        result["control_change"] = float(control["total"]) - float(parent["total"])
    else:
        result["therapist_change"] = result["control_change"] = None
    return result


def case_effect(
    effects: list[tuple[int, dict[str, Any] | None]], *, higher_is_worse: bool = True
) -> dict[str, Any]:
    """The sum of the sessions' effects (session number, effect or None when the session has no loop yet)."""
    if not effects:
        return no_effect("no session has a loop yet")
    for number, effect in effects:
        if effect is None:
            return no_effect(f"session {number} has no loop result")
        if effect.get("effect") is None:
            return no_effect(f"session {number}: {effect.get('reason') or 'no effect'}")
    total = sum(float(e["effect"]) for _n, e in effects if e is not None)
    errors = [e.get("standard_error") for _n, e in effects if e is not None]
    result = _with_interval(total, errors, higher_is_worse)
    result["sessions"] = [n for n, _e in effects]
    return result


def no_effect(reason: str) -> dict[str, Any]:
    return {"effect": None, "standard_error": None, "ci95": None, "classification": None, "reason": reason}


def _with_interval(effect: float, errors: list[Any], higher_is_worse: bool) -> dict[str, Any]:
    if any(e is None for e in errors):
        return {"effect": effect, "standard_error": None, "ci95": None, "classification": NO_INTERVAL,
                "reason": None}  # fmt: skip
    se = math.sqrt(sum(float(e) ** 2 for e in errors))
    low, high = effect - Z95 * se, effect + Z95 * se
    return {
        "effect": effect,
        "standard_error": se,
        "ci95": [low, high],
        "classification": classify(low, high, higher_is_worse),
        "reason": None,
    }


def classify(low: float, high: float, higher_is_worse: bool) -> str:
    """Whether the interval excludes zero, and on which side (lower is better when higher is worse)."""
    if low <= 0.0 <= high:
        return NO_DIFFERENCE
    lower = high < 0.0
    return BETTER if lower == higher_is_worse else WORSE


def effect_text(effect: dict[str, Any] | None) -> str:
    """One line for terminals and pages: the number with its interval, or why there is none."""
    if effect is None:
        return "no effect (no control)"
    if effect.get("effect") is None:
        return f"no effect: {effect.get('reason')}"
    interval = effect.get("ci95")
    span = f" [{interval[0]:+.2f}, {interval[1]:+.2f}]" if interval else ""
    return f"{effect['effect']:+.2f}{span} {effect.get('classification') or ''}".rstrip()
