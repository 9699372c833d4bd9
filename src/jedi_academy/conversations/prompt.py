"""What the patient and the therapist models are told while conversations are generated. Bump the versions on
every change.

The system message is the persona's own system prompt (exactly what the exported dataset trains on) plus
session rules that are not exported: the fine-tuned patient should learn gradual disclosure, resistance and
staying unwell from the examples, without needing the rules at inference (peer simulators are criticised
for patients who cooperate at once, disclose everything and "self-cure" within one session).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jedi_academy.llm import Message
from jedi_academy.personas.card import AnyCard, PersonaCard, intake_facts, system_prompt

CONVERSATION_PROMPT_VERSION = "conversation-gen-2"
THERAPIST_PROMPT_VERSION = "therapist-gen-1"

_STAGES = (
    "You have only just met this therapist and do not trust them yet: share surface details, keep harder "
    "things vague unless asked directly, and it is fine to deflect or give short answers.",
    "You are warming up a little: you may share more concrete examples, but you still hold back on what "
    "embarrasses or frightens you most, and you may push back on the therapist's suggestions.",
    "You trust the therapist somewhat more now and can name harder things if asked, but you are still "
    "ambivalent: nothing is solved, and your doubts and resistances are still there.",
)

_RULES = """\
This is your first therapy session. {stage}
- Answer the therapist's last turn as yourself, in your conversational style{length}. Use everyday words; \
do not use clinical terms, questionnaire wording, rating scales or lists.
- React to the therapist as this person would: when they listen and reflect well you may open up a little; \
when they lecture, judge, rush to advice or skip over what you said, respond the way you push back \
(withdraw, deflect, argue, or agree on the surface).
- Stay consistent with your profile and with what you have already said. Do not invent a diagnosis.
- Your problems do not go away during the session: do not suddenly feel better, thank the therapist for \
fixing things or wrap up neatly.
- If suicidal thoughts are part of your story, you may mention them when asked, without any detail of \
methods.
- Write only your own words: no name label, no stage directions, never the therapist's next line.

Portrayal notes: {guidance}"""


def disclosure_stage(turn: int, total: int) -> int:
    """0 (guarded) for the first third of the conversation, 1 for the middle third, 2 for the last."""
    return min(2, (3 * turn) // max(1, total))


def patient_messages(
    card: AnyCard, guidance: str, history: Sequence[tuple[str, str]], question: str, turn: int, total: int
) -> list[Message]:
    """The conversation as the patient model sees it before answering ``question`` (turn ``turn``)."""
    length = "" if isinstance(card, PersonaCard) else ", usually in one to four sentences"
    rules = _RULES.format(
        stage=_STAGES[disclosure_stage(turn, total)], guidance=" ".join(guidance.split()), length=length
    )
    messages: list[Message] = [{"role": "system", "content": f"{system_prompt(card)}\n\n{rules}"}]
    for asked, answered in history:
        messages.append({"role": "user", "content": asked})
        messages.append({"role": "assistant", "content": answered})
    messages.append({"role": "user", "content": question})
    return messages


_THERAPIST = """\
You are a psychotherapist in a first session with a new client. Approach: {approach}.
What the referral says: {intake}
Your next turn: {instruction}{topic}
Write only what you say next, as one short spoken turn of one to three sentences: no name label, no stage \
directions, never the client's reply."""


def referral_note(card: AnyCard) -> str:
    """The intake facts a therapist is given before meeting the client (no cognitive model, no evidence)."""
    if not isinstance(card, PersonaCard):
        return f"{card.name}, age {card.context.age_band}: " + "; ".join(
            t.text for t in card.presenting_problems
        )
    facts: dict[str, Any] = intake_facts(card)
    known = [f"{facts['name']}, age band {facts['age_band']}"]
    known += [
        f"{key.replace('_', ' ')}: {facts[key]}"
        for key in ("gender", "occupation", "relationships", "living_situation")
        if facts[key] != "not stated"
    ]
    return "; ".join([*known, "referred for: " + "; ".join(facts["presenting_problems"])])


def therapist_messages(
    card: AnyCard,
    approach_description: str,
    instruction: str,
    history: Sequence[tuple[str, str]],
    topic: str | None = None,
) -> list[Message]:
    """The conversation as the therapist model sees it before its next turn: the client's answers are the user
    side, its own earlier turns the assistant side."""
    hint = f" If it fits, an area worth exploring: {topic}" if topic else ""
    system = _THERAPIST.format(
        approach=approach_description, intake=referral_note(card), instruction=instruction, topic=hint
    )
    messages: list[Message] = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"({card.name} comes in and sits down.)"},
    ]
    for said, answered in history:
        messages.append({"role": "assistant", "content": said})
        messages.append({"role": "user", "content": answered})
    return messages
