"""Every number a portfolio states, computed from the records it carries and nothing else.

The builder and the verifier call the same functions: ``case_figures`` per case, ``aggregate`` over cases.
The persona is the unit of analysis: a persona worked in several cases counts once, with the mean of its
changes, and the interval of the mean change is a t interval over personas. An invalid measurement (no
total) is reported as invalid and never enters a share or a mean.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from jedi_academy.assessment.administer import ItemOutcome
from jedi_academy.assessment.attention import measures_from_record
from jedi_academy.assessment.summary import summarise
from jedi_academy.assessment.validity import judge
from jedi_academy.errors import AcademyError
from jedi_academy.instruments import load_instrument
from jedi_academy.instruments.change import reliable_change
from jedi_academy.instruments.effect import BETTER, case_effect, no_effect, session_effect
from jedi_academy.instruments.scoring import ResponseError
from jedi_academy.store.ledger import content_sha256, normalised

IMPROVEMENT = "reliable improvement"


class RecordProblem(Exception):
    """A record that cannot support the figure asked of it; the message names the record."""


def record(records: dict[str, dict[str, Any]], ref: str) -> dict[str, Any]:
    found = records.get(ref)
    if found is None:
        raise RecordProblem(f"{ref} is referenced but not included")
    return found["content"]


def score(run: dict[str, Any]) -> dict[str, Any]:
    """The figure one assessment run gives: total, 95% interval and validity (the run's validity gates; a run
    scored before the gates existed is not a valid measurement, as in the assessment stage)."""
    validity = run["result"].get("validity")
    reasons = [r["code"] for r in validity["reasons"]] if validity else ["not_gated"]
    if run["total"] is None:
        reasons.append("no_total")
    return {
        "run": run["id"],
        "checkpoint": run["checkpoint_id"],
        "total": run["total"],
        "ci": [run["ci_low"], run["ci_high"]],
        "valid": not reasons,
        "invalid_reasons": reasons,
        "valid_share": run["result"].get("valid_share"),
        "missing_items": run["result"].get("missing_items", []),
    }


INVALID_PREFERENCE = "invalid_preference"
MIN_PREFERENCE_MASS = 0.5  # as sessions.preference: the verifier re-derives it from the sealed phrasings


def recommendation_counts(session: dict[str, Any]) -> dict[str, int]:
    """Decisions only count as accepted or ignored; invalid_preference (no decision) is counted apart."""
    recs = session.get("recommendations", [])
    invalid = sum(1 for r in recs if r.get("decision") == INVALID_PREFERENCE)
    return {
        "made": len(recs),
        "accepted": sum(1 for r in recs if r.get("accepted") is True),
        "ignored": sum(1 for r in recs if r.get("accepted") is False),
        "invalid_preference": invalid,
        "undecided": sum(1 for r in recs if r.get("accepted") is None) - invalid,
    }


def _median_mass(rec: dict[str, Any]) -> float | None:
    masses = sorted(p["mass"] for p in rec.get("phrasings") or [] if p.get("mass") is not None)
    if not masses:
        return None
    middle = len(masses) // 2
    return masses[middle] if len(masses) % 2 else (masses[middle - 1] + masses[middle]) / 2


def session_problems(name: str, session: dict[str, Any]) -> list[str]:
    """Each decision follows from its draw: accepted exactly when u < p_accept, unless the sealed phrasings'
    median mass is under 0.5, when there is no decision (invalid_preference)."""
    problems = []
    for rec in session.get("recommendations", []):
        p, u, accepted = rec.get("p_accept"), rec.get("u"), rec.get("accepted")
        mass = _median_mass(rec)
        invalid = p is not None and mass is not None and mass < MIN_PREFERENCE_MASS
        if invalid != (rec.get("decision") == INVALID_PREFERENCE):
            problems.append(
                f"{name}: recommendation {rec.get('index')} is recorded as {rec.get('decision')}, but its "
                f"phrasings' median mass {mass} says {'invalid_preference' if invalid else 'a decision'}"
            )
            continue
        expected = None if p is None or u is None or invalid else u < p
        if accepted != expected:
            problems.append(
                f"{name}: recommendation {rec.get('index')} is recorded as accepted={accepted}, "
                f"but u={u} and p_accept={p} give {expected}"
            )
    return problems


def case_figures(case: dict[str, Any], records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Baseline, session-wise scores, change at the last scored session and recommendation counts."""
    baseline_run = record(records, case["baseline"])
    _check_run_fits(case, case["baseline"], baseline_run)
    baseline = score(baseline_run)
    sessions = []
    totals = {"made": 0, "accepted": 0, "ignored": 0, "invalid_preference": 0, "undecided": 0}
    for entry in case["sessions"]:
        row: dict[str, Any] = {"number": entry["number"], "score": None, "recommendations": None}
        if entry.get("session"):
            counts = recommendation_counts(record(records, entry["session"]))
            row["recommendations"] = counts
            for key, value in counts.items():
                totals[key] += value
        if entry.get("run"):
            run = record(records, entry["run"])
            _check_run_fits(case, entry["run"], run)
            row["score"] = score(run)
        row["control"], row["effect"] = _session_effect(case, entry, records)
        sessions.append(row)
    scored = [s for s in sessions if s["score"] is not None]
    return {
        "baseline": baseline,
        "sessions": sessions,
        "n_sessions": len(sessions),
        "recommendations": totals,
        "change": _change(case["instrument"], baseline, scored[-1] if scored else None),
        # what the portfolio reports: the change set against each session's no-therapist control child
        "effect": case_effect([(s["number"], s["effect"]) for s in sessions], higher_is_worse=_worse(case)),
    }


def _worse(case: dict[str, Any]) -> bool:
    spec = load_instrument(case["instrument"]).change
    return spec.higher_is_worse if spec else True


def _measured(run: dict[str, Any]) -> dict[str, Any]:
    """A run as the effect arithmetic reads it (instruments/effect.py). The standard error is the sealed
    record's (its ledger entry covers it); the items in a bundle keep no per-order distributions, so unlike
    the total it cannot be re-derived here."""
    figure = score(run)
    return {"valid": figure["valid"], "total": figure["total"], "problems": figure["invalid_reasons"],
            "standard_error": run["result"].get("standard_error")}  # fmt: skip


def _session_effect(
    case: dict[str, Any], entry: dict[str, Any], records: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The session's control child's score and the therapist effect (therapist child minus control child)."""
    if not entry.get("run"):
        return None, no_effect("not re-assessed after this session")
    if not entry.get("control_run"):
        return None, no_effect("no control child measured alike (a loop from before the control)")
    control = record(records, entry["control_run"])
    _check_run_fits(case, entry["control_run"], control)
    therapist = record(records, entry["run"])
    effect = session_effect(_measured(therapist), _measured(control), higher_is_worse=_worse(case))
    return score(control), effect


def _check_run_fits(case: dict[str, Any], ref: str, run: dict[str, Any]) -> None:
    if run["instrument_id"] != case["instrument"]:
        raise RecordProblem(f"{ref} measures {run['instrument_id']}, not the case's {case['instrument']}")
    if run["persona_id"] != case["persona"]:
        raise RecordProblem(f"{ref} was taken in character as another persona than the case's")


def _change(instrument: str, baseline: dict[str, Any], last: dict[str, Any] | None) -> dict[str, Any]:
    if last is None:
        return {"classification": "not measured", "reason": "no session has a score yet"}
    after = last["score"]
    if not baseline["valid"] or not after["valid"]:
        which, bad = ("baseline", baseline) if not baseline["valid"] else (f"session {last['number']}", after)
        because = ", ".join(bad["invalid_reasons"])
        return {"classification": "invalid", "reason": f"the {which} measurement is invalid ({because})"}
    try:
        result = reliable_change(instrument, baseline["total"], after["total"])
    except AcademyError as exc:
        return {"classification": "unclassifiable", "reason": exc.message}
    return {
        "at_session": last["number"],
        "before": result.before,
        "after": result.after,
        "change": result.change,
        "method": result.method,
        "classification": result.classification,
        "rci": result.rci,
        "min_reliable_change": result.min_reliable_change,
        "clinically_significant": result.clinically_significant,
    }


def aggregate(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per instrument: the cases with reliable improvement, the share of reliable improvement over personas
    (each persona's share of improved cases, averaged), and the mean change over personas with a 95% t
    interval (None with a reason below two personas)."""
    by_instrument: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for case in cases:
        by_instrument[case["instrument"]].append(case)
    blocks = []
    for instrument in sorted(by_instrument):
        group = by_instrument[instrument]
        classified = [c for c in group if c["figures"]["change"]["classification"] in _CLASSIFICATIONS]
        per_persona: dict[str, list[float]] = defaultdict(list)
        improved: dict[str, list[bool]] = defaultdict(list)
        for case in classified:
            per_persona[case["persona"]].append(case["figures"]["change"]["change"])
            improved[case["persona"]].append(case["figures"]["change"]["classification"] == IMPROVEMENT)
        means = [sum(v) / len(v) for _, v in sorted(per_persona.items())]
        # like the mean, the share weighs each persona once: the share of its cases that improved, averaged
        shares = [sum(v) / len(v) for _, v in sorted(improved.items())]
        interval, note = _t_interval(means)
        effects = _effect_block(group)
        blocks.append(
            {
                "instrument": instrument,
                "cases": len(group),
                "cases_with_valid_change": len(classified),
                "personas": len({c["persona"] for c in group}),
                "personas_with_valid_change": len(per_persona),
                "reliable_improvement": sum(
                    1 for c in classified if c["figures"]["change"]["classification"] == IMPROVEMENT
                ),
                "share_reliable_improvement": sum(shares) / len(shares) if shares else None,
                "mean_change": sum(means) / len(means) if means else None,
                "mean_change_ci95": interval,
                "interval_note": note,
                **effects,
            }
        )
    return blocks


def _effect_block(group: list[dict[str, Any]]) -> dict[str, Any]:
    """The therapist effect over personas: each persona's mean effect, their mean with a 95% t interval,
    and the cases whose effect interval lies on the therapist's side of zero."""
    with_effect = [c for c in group if (c["figures"].get("effect") or {}).get("effect") is not None]
    per_persona: dict[str, list[float]] = defaultdict(list)
    for case in with_effect:
        per_persona[case["persona"]].append(case["figures"]["effect"]["effect"])
    means = [sum(v) / len(v) for _, v in sorted(per_persona.items())]
    interval, note = _t_interval(means)
    return {
        "cases_with_effect": len(with_effect),
        "personas_with_effect": len(per_persona),
        "therapist_better_than_control": sum(
            1 for c in with_effect if c["figures"]["effect"]["classification"] == BETTER
        ),
        "mean_effect": sum(means) / len(means) if means else None,
        "mean_effect_ci95": interval,
        "effect_interval_note": note,
    }


_CLASSIFICATIONS = (IMPROVEMENT, "no reliable change", "reliable deterioration")


def _t_interval(values: list[float]) -> tuple[list[float] | None, str | None]:
    if len(values) < 2:
        return None, "fewer than two personas: no interval"
    from scipy.stats import t

    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return [mean - half, mean + half], None


def run_summary_problems(ref: str, run: dict[str, Any]) -> list[str]:
    """Re-derive a run's total, interval and validity from its item distributions and seed."""
    key = (ref, content_sha256(run))
    if key not in _SUMMARY_CACHE:
        if len(_SUMMARY_CACHE) > 256:
            _SUMMARY_CACHE.clear()
        _SUMMARY_CACHE[key] = _run_summary_problems(ref, run)
    return list(_SUMMARY_CACHE[key])


# The simulation behind a run's interval takes a moment; identical content always gives identical results.
_SUMMARY_CACHE: dict[tuple[str, str], list[str]] = {}


def _run_summary_problems(ref: str, run: dict[str, Any]) -> list[str]:
    try:
        instrument = load_instrument(run["instrument_id"])
    except AcademyError as exc:
        return [f"{ref}: {exc.message}"]
    if str(instrument.definition.version) != run["instrument_version"]:
        return [
            f"{ref}: recorded with {run['instrument_id']} version {run['instrument_version']}, this "
            f"installation has version {instrument.definition.version}, so its score cannot be re-derived"
        ]
    try:
        outcomes = [_outcome(item) for item in run["items"]]
        summary = summarise(instrument, outcomes, run["seed"])
        attention = measures_from_record(run["result"].get("attention"))
        validity = judge(run["mode"], outcomes, summary["total"] is not None, attention=attention)
    except (KeyError, TypeError, ValueError, ResponseError) as exc:  # a tampered answer code among them
        return [f"{ref}: its items cannot be scored ({exc})"]
    problems = []
    stated = run["result"].get("validity")
    if stated is not None and differences(stated, normalised(validity)):
        problems.append(f"{ref}: its validity verdict does not follow from its items")
    for name in ("total", "ci_low", "ci_high"):
        if not close(summary[name], run[name]):
            problems.append(f"{ref}: {name} is {run[name]}, its items give {summary[name]}")
    if not close(summary["valid_share"], run["result"].get("valid_share")):
        problems.append(f"{ref}: valid_share does not follow from its items")
    return problems


def _outcome(item: dict[str, Any]) -> ItemOutcome:
    return ItemOutcome(
        item_id=item["item_id"],
        position=item["position"],
        distribution={int(code): float(p) for code, p in item["distribution"].items()},
        by_order={},
        expected_value=item["expected_value"],
        argmax_code=item["detail"].get("argmax_code"),
        entropy_bits=item["entropy"],
        order_sensitivity=item["order_sensitivity"],
        n_missing=item["n_missing"],
        n_answers=item["detail"].get("n_answers") or 0,
        option_mass=item["detail"].get("option_mass"),
        mass_by_order=item["detail"].get("mass_by_order") or {},
        probes=item["detail"].get("probes") or [],
    )


def close(a: Any, b: Any, tolerance: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)


def differences(stated: Any, derived: Any, path: str = "") -> list[str]:
    """Paths where two JSON values differ (numbers compared with a tiny tolerance)."""
    if isinstance(stated, dict) and isinstance(derived, dict):
        found = []
        for key in sorted(set(stated) | set(derived)):
            found += differences(stated.get(key), derived.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(stated, list) and isinstance(derived, list):
        if len(stated) != len(derived):
            return [f"{path}: {len(stated)} stated, {len(derived)} follow from the records"]
        found = []
        for index, (a, b) in enumerate(zip(stated, derived, strict=True)):
            found += differences(a, b, f"{path}[{index}]")
        return found
    numeric = (int, float)
    if isinstance(stated, numeric) and isinstance(derived, numeric) and not isinstance(stated, bool):
        return [] if close(stated, derived) else [f"{path}: {stated} stated, the records give {derived}"]
    return [] if stated == derived else [f"{path}: {stated!r} stated, the records give {derived!r}"]
