"""What the patient model is told while conversations are generated. Bump the version on every change.

The system message is the persona's own system prompt (exactly what the exported dataset trains on) plus
session rules that are not exported: the fine-tuned patient should learn gradual disclosure, resistance and
staying unwell from the examples, without needing the rules at inference (peer simulators are criticised
for patients who cooperate at once, disclose everything and "self-cure" within one session).
"""

from __future__ import annotations

from collections.abc import Sequence

from jedi_academy.llm import Message
from jedi_academy.personas.card import PersonaCard, system_prompt

CONVERSATION_PROMPT_VERSION = "conversation-gen-1"

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
- Answer the therapist's last question as yourself, in the way you speak, usually in one to four \
sentences. Use everyday words; do not use clinical terms, questionnaire wording, rating scales or lists.
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
    card: PersonaCard, guidance: str, history: Sequence[tuple[str, str]], question: str, turn: int, total: int
) -> list[Message]:
    """The conversation as the patient model sees it before answering ``question`` (turn ``turn``)."""
    rules = _RULES.format(stage=_STAGES[disclosure_stage(turn, total)], guidance=" ".join(guidance.split()))
    messages: list[Message] = [{"role": "system", "content": f"{system_prompt(card)}\n\n{rules}"}]
    for asked, answered in history:
        messages.append({"role": "user", "content": asked})
        messages.append({"role": "assistant", "content": answered})
    messages.append({"role": "user", "content": question})
    return messages
