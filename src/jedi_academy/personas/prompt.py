"""The prompt that turns one author's comments into a persona card. Bump the version on every change."""

from __future__ import annotations

from collections.abc import Sequence

from jedi_academy.llm import Message
from jedi_academy.personas.selection import SourceComment

GENERATION_PROMPT_VERSION = "persona-gen-2"

_INSTRUCTIONS = """\
You write persona cards for simulated psychotherapy clients, used to train new therapists. Each card \
describes one invented adult client whose experiences are grounded in the comments of one real person, \
shown below under labels C1, C2, ...

Specialization: {display_name}. {description}

Rules:
- Paraphrase. Never copy wording from the comments: no run of five or more of their words, no quotes.
- Invent an ordinary first name. Leave out anything identifying: names, places, dates, employers, schools, \
usernames, rare events. Never mention Reddit, subreddits, posts or comments.
- Every trait cites, in "evidence", the labels of the comments that support it (only labels shown below), \
and says its basis: "stated" when the comments say it, "inferred" when it clearly follows from what they \
say. Never add a trait the comments do not support: leave a list empty, and write "not stated" (basis \
"not stated", no evidence) for a detail they never give. An honest "not stated" is better than a guess.
- presenting_problems: why this person would come to therapy now. symptoms: what they experience, each \
with a severity. demographics: age band, gender, occupation, relationships and living situation, only \
where the comments give them.
- cognitive_model (Beck): relevant_history (how it developed); core_beliefs about the self, each in one \
family: helpless ("I am weak, trapped, a failure"), unlovable ("I am unwanted, bound to be rejected") or \
worthless ("I am bad, a burden"); intermediate_beliefs (attitudes, rules and assumptions such as "if I ask \
for help, people will see I am weak"); coping_strategies (what they do to get by, helpful or not); and two \
or more situations, each a chain: situation -> automatic thought -> emotion -> behaviour.
- stage_of_change: precontemplation, contemplation, preparation, action or maintenance, as far as the \
comments show it. resistances: how this person pushes back on help or advice, each with its move (deny, \
downplay, blame, hesitate, reject). goals: what they hope for. speaking_style: how they write (sentence \
length, tone, humour, hedging), described, not quoted.
- risk: suicidal_ideation (none, passive, active, plan), self_harm (none, past, current), substances \
(none, some, problematic) and protective_factors, only as the comments show them; otherwise "not stated".
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
