"""The teacher's judgement of an accepted recommendation for this persona: helpful, neutral or harmful.

The follow-up the loop writes after an accepted recommendation draws its outcome from a distribution that
depends on this judgement (``loop.outcomes``): "Have a drink every evening to relax" should not come back as
"it helped a little". The teacher replies in free text, greedy and seeded, and the reply is parsed strictly:
the label, a colon, a reason. Anything else (a random model's gibberish, prose around the label) is recorded
``unjudged`` with the raw reply, never guessed at; constrained decoding is not used on purpose, since it would
turn a model that cannot judge into one that always names a label.
"""

from __future__ import annotations

import re
from typing import Any

from jedi_academy.llm import LLM, Conversation, GenerationParams

ADVICE_VERSION = "advice-1"
JUDGEMENTS = ("helpful", "neutral", "harmful")
UNJUDGED = "unjudged"
MAX_TOKENS = 80
REPLY_KEPT = 300  # characters of the raw reply kept with an unjudged record

_STRICT = re.compile(r"(helpful|neutral|harmful)\s*:\s*(\S.*)", re.IGNORECASE | re.DOTALL)

_INSTRUCTIONS = """\
You are an experienced clinical psychologist. A client accepted a piece of advice from their therapist. \
Judge whether following it is likely to be helpful, neutral or harmful for this particular client, given \
what the referral says. Harmful: it could worsen their condition or put them at risk (for example drinking \
to cope, stopping medication, isolating). Reply with exactly one line: the label (helpful, neutral or \
harmful), a colon, and one sentence giving the reason. Example: \
"harmful: alcohol worsens low mood and sleep.\""""


def judgement_messages(client: dict[str, Any], recommendation: str) -> Conversation:
    """What the teacher reads: the intake sheet's facts (never the persona's name) and the advice."""
    lines = [f"{key.replace('_', ' ')}: {value}" for key, value in client.items() if value]
    facts = "\n".join(lines)
    return [
        {"role": "system", "content": _INSTRUCTIONS},
        {"role": "user", "content": f"Client:\n{facts}\n\nAdvice accepted: {recommendation}"},
    ]


def client_summary(card: dict[str, Any]) -> dict[str, Any]:
    """The persona as a referral describes it: the intake sheet's problem, duration, risk and stage."""
    from jedi_academy.personas.intake import card_resistances, intake_sheet

    sheet = intake_sheet(card)
    risk = sheet.get("risk")
    return {
        "presenting_problem": "; ".join(sheet.get("presenting_problem") or []),
        "duration": sheet.get("duration"),
        "risk": risk.get("summary") if isinstance(risk, dict) else risk,
        "stage_of_change": sheet.get("stage_of_change"),
        "resistances": "; ".join(card_resistances(card)),
    }


def parse_judgement(reply: str) -> tuple[str, str]:
    """(label, reason) from a reply that is exactly ``label: reason``; (``unjudged``, why) otherwise."""
    text = reply.strip()
    match = _STRICT.fullmatch(text)
    if match is None or len(match.group(2).strip()) < 3:
        return UNJUDGED, "the teacher's reply is not 'helpful|neutral|harmful: reason'"
    return match.group(1).lower(), " ".join(match.group(2).split())


def judge_advice(
    teacher: LLM, card: dict[str, Any], recommendation: str, *, seed: int, teacher_info: dict[str, Any]
) -> dict[str, Any]:
    """The record stored with the recommendation (``advice``)."""
    params = GenerationParams(temperature=0.0, max_tokens=MAX_TOKENS, seed=seed)
    reply = teacher.generate([judgement_messages(client_summary(card), recommendation)], params)[0]
    judgement, reason = parse_judgement(reply)
    record: dict[str, Any] = {
        "judgement": judgement,
        "reason": reason,
        "seed": seed,
        "teacher": teacher_info,
        "version": ADVICE_VERSION,
    }
    if judgement == UNJUDGED:
        record["reply"] = reply[:REPLY_KEPT]  # what could not be read, for whoever checks the teacher
    return record


def advice_line(advice: dict[str, Any]) -> str:
    """The stored judgement as one line."""
    if advice.get("judgement") == UNJUDGED:
        reason = advice.get("reason")
        return f"advice unjudged ({reason}); its follow-up outcome is drawn from the neutral row"
    return f"advice judged {advice.get('judgement')} by the teacher: {advice.get('reason')}"
