"""Every prompt of a session: the patient's conversation, the preference questions and the teacher's
extraction of recommendations. Bump a version whenever its text changes (it is stored with each session)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.llm import Conversation, Message

PREFERENCE_VERSION = "preference-2"  # 2: whole replies (with the end marker) and their mass
EXTRACTION_VERSION = "extract-recs-1"

# The patient is asked in several phrasings; each is asked with the two answers listed in both orders, so that
# a preference for the first- or last-named answer cancels out in the mean.
PREFERENCE_QUESTIONS = (
    "Before we stop, your therapist suggested this: {rec}\n"
    "Will you actually do it before your next session? Answer {first} or {second}.",
    "Be honest with yourself about this suggestion from your therapist: {rec}\n"
    "Are you going to follow it? Reply with one word, {first} or {second}.",
    "Your therapist would like you to try something: {rec}\n"
    "Thinking about how you really are, do you intend to try it? {first} or {second}?",
)
ANSWER_ORDERS = (("Yes", "No"), ("No", "Yes"))

RECOMMENDATION_KINDS = (
    "homework",
    "behavioural",
    "cognitive",
    "lifestyle",
    "social",
    "self-care",
    "referral",
    "medication",
    "safety",
    "other",
)

_EXTRACTION_INSTRUCTIONS = """\
You review the transcript of a psychotherapy session. List the recommendations the therapist made: concrete \
things the client is asked or advised to do between sessions (homework, behavioural experiments, thought \
records, lifestyle or sleep changes, social contact, seeing a doctor or another service, medication-related \
advice, safety plans). Questions, reflections and summaries are not recommendations. Use only what the \
therapist said, in a short imperative sentence; give the number of the therapist turn it comes from and its \
kind. If there are none, reply with an empty list.

Kinds: {kinds}.

Reply with one JSON object and nothing else."""

_KIND_INSTRUCTIONS = """\
Classify a recommendation a psychotherapist gave a client. Kinds: {kinds}. Reply with one JSON object."""


def patient_conversation(
    persona_prompt: str, turns: Sequence[tuple[str, str | None]], pending: str | None = None
) -> Conversation:
    """System prompt, then therapist (user) and patient (assistant) turns; ``pending`` is the therapist's
    utterance that the patient is about to answer."""
    messages: list[Message] = [{"role": "system", "content": persona_prompt}]
    for therapist, patient in turns:
        messages.append({"role": "user", "content": therapist})
        messages.append({"role": "assistant", "content": patient or ""})
    if pending is not None:
        messages.append({"role": "user", "content": pending})
    return messages


TRIM_TO = 0.5  # when turns must leave, the earlier turns keep this share of their room (see fit_conversation)


def fit_conversation(
    persona_prompt: str,
    turns: Sequence[tuple[str, str | None]],
    pending: str,
    *,
    budget_tokens: int,
    count_tokens: Callable[[Conversation], int],
    dropped_before: int = 0,
) -> tuple[Conversation, int]:
    """The patient's conversation within ``budget_tokens``: the oldest whole turns are left out until it fits
    (the persona prompt and the therapist's new message always stay). Returns the conversation and how many
    earlier turns were left out; a message that does not fit even alone is refused.

    ``dropped_before``: how many the previous message was answered without. Those stay out (a turn, once
    left out, never comes back), and while the conversation fits nothing more leaves; when it no longer
    does, turns leave until the earlier turns take at most ``TRIM_TO`` of the room that the persona prompt
    and the message leave them. Leaving out one turn per message would change the prompt's beginning every
    time, so a model server could reuse nothing of the previous prompt; cutting to half the room keeps the
    beginning the same for the many messages after each cut."""

    def count(dropped: int) -> int:
        return count_tokens(patient_conversation(persona_prompt, turns[dropped:], pending=pending))

    kept_out = min(max(dropped_before, 0), len(turns))
    if count(kept_out) <= budget_tokens:
        return patient_conversation(persona_prompt, turns[kept_out:], pending=pending), kept_out
    everything_out = count(len(turns))
    if everything_out > budget_tokens:
        raise AcademyError(
            f"the persona prompt and this message take {everything_out} tokens; the patient model's "
            f"context leaves {budget_tokens} for them",
            "send a shorter message",
        )
    # the earlier turns keep at most TRIM_TO of the room that the persona prompt and the message leave them
    target = everything_out + int((budget_tokens - everything_out) * TRIM_TO)
    # leaving a turn out never adds tokens: a binary search finds the fewest to leave out with a few counts
    # (a long session is tokenized O(log turns) times when it is cut, not once per turn)
    low, high = kept_out, len(turns)  # count(low) > target >= count(high)
    while low + 1 < high:
        middle = (low + high) // 2
        if count(middle) <= target:
            high = middle
        else:
            low = middle
    return patient_conversation(persona_prompt, turns[high:], pending=pending), high


def preference_system_prompt(persona_prompt: str, resistances: Sequence[str], stage: str | None) -> str:
    """The persona prompt plus what decides whether this person takes advice: their resistances and their
    stage of change, as the card states them (no bonus or penalty is added anywhere else)."""
    lines = [persona_prompt]
    if resistances:
        lines.append("How you tend to push back on advice:")
        lines.extend(f"- {text}" for text in resistances)
    if stage:
        lines.append(f"Your readiness to change right now: {stage}.")
    lines.append("Answer as yourself, honestly, not as a polite client who agrees with everything.")
    return "\n".join(lines)


def preference_variants(recommendation: str) -> list[tuple[str, str, str]]:
    """(question, first answer, second answer) for every phrasing and answer order."""
    return [
        (question.format(rec=recommendation, first=first, second=second), first, second)
        for question in PREFERENCE_QUESTIONS
        for first, second in ANSWER_ORDERS
    ]


def extraction_messages(therapist_turns: Sequence[tuple[int, str]]) -> list[Message]:
    system = _EXTRACTION_INSTRUCTIONS.format(kinds=", ".join(RECOMMENDATION_KINDS))
    transcript = "\n".join(f"[{index}] {text}" for index, text in therapist_turns)
    user = f"Therapist turns of the session, numbered:\n\n{transcript}\n\nList the recommendations."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def extraction_schema(turn_numbers: Sequence[int], max_items: int, max_chars: int) -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "turn": {"type": "integer", "enum": list(turn_numbers)},
            "kind": {"type": "string", "enum": list(RECOMMENDATION_KINDS)},
            "text": {"type": "string", "minLength": 3, "maxLength": max_chars},
        },
        "required": ["turn", "kind", "text"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"recommendations": {"type": "array", "items": item, "maxItems": max_items}},
        "required": ["recommendations"],
        "additionalProperties": False,
    }


def kind_messages(recommendation: str) -> list[Message]:
    system = _KIND_INSTRUCTIONS.format(kinds=", ".join(RECOMMENDATION_KINDS))
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Recommendation: {recommendation}"},
    ]


def kind_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"type": "string", "enum": list(RECOMMENDATION_KINDS)}},
        "required": ["kind"],
        "additionalProperties": False,
    }
