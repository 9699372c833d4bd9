"""The prompt that turns one author's comments into a persona card. Bump the version on every change."""

from __future__ import annotations

from collections.abc import Sequence

from jedi_academy.llm import Message
from jedi_academy.personas.selection import SourceComment

GENERATION_PROMPT_VERSION = "persona-gen-1"

_INSTRUCTIONS = """\
You write persona cards for simulated psychotherapy clients, used to train new therapists. Each card \
describes one invented adult client whose experiences are grounded in the comments of one real person, \
shown below under labels C1, C2, ...

Specialization: {display_name}. {description}

Rules:
- Paraphrase. Never copy wording from the comments: no run of five or more of their words, no quotes.
- Invent an ordinary first name. Leave out anything identifying: names, places, dates, employers, schools, \
usernames, rare events. Never mention Reddit, subreddits, posts or comments.
- Every trait cites, in "evidence", the labels of the comments that support it (1 to 4 labels, only labels \
shown below). Do not add traits the comments give no support for; where the comments say nothing about \
age, use "unknown".
- presenting_problems: why this person would come to therapy now. symptoms: what they experience, each with \
a severity (mild, moderate or severe). history: how it developed. context: age band, occupation and \
relationships. coping: what they do to get by, helpful or not. speaking_style: how they talk (sentence \
length, tone, humour, hedging), described, not quoted. goals: what they hope for. resistances: what they \
avoid, doubt or would push back on in therapy.
- Realistic clients are ambivalent: they disclose gradually, minimise, and keep some of their doubts. Do not \
write someone who is already recovering or who agrees with everything.

Portrayal notes for this specialization: {guidance}

Reply with the card as one JSON object and nothing else."""


def persona_messages(
    display_name: str, description: str, guidance: str, comments: Sequence[SourceComment]
) -> list[Message]:
    """System instructions plus the labelled comments of one author."""
    system = _INSTRUCTIONS.format(
        display_name=display_name, description=description.strip(), guidance=guidance.strip()
    )
    shown = "\n\n".join(f"[{c.label}] {c.text}" for c in comments)
    user = (
        "Comments by one person (identifiers were already replaced by placeholders such as [USER]):\n\n"
        f"{shown}\n\nWrite the persona card."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
