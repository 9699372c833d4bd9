"""Persona card schema version 1 (cards stored before version 2): read, rendered and trained on as before.

``evidence`` holds the ids of the comments that support a trait. They stay in provenance: the system prompt
and every therapist-facing view render the card without them. New cards are version 2
(:mod:`jedi_academy.personas.card`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PROMPT_VERSION_V1 = "persona-prompt-1"

Severity = Literal["mild", "moderate", "severe"]
AgeBand = Literal["18-24", "25-34", "35-44", "45-54", "55-64", "65+", "unknown"]


class Trait(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=3, max_length=240)
    evidence: list[str] = Field(min_length=1, max_length=4)


class Symptom(Trait):
    severity: Severity


class Context(BaseModel):
    model_config = ConfigDict(extra="forbid")

    age_band: AgeBand
    occupation: Trait
    relationships: Trait


class PersonaCardV1(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=40, description="an invented first name")
    presenting_problems: list[Trait] = Field(min_length=1, max_length=4)
    symptoms: list[Symptom] = Field(min_length=1, max_length=6)
    history: list[Trait] = Field(max_length=4)
    context: Context
    coping: list[Trait] = Field(max_length=4)
    speaking_style: Trait
    goals: list[Trait] = Field(max_length=3)
    resistances: list[Trait] = Field(max_length=3)

    def traits(self) -> list[Trait]:
        """Every trait, for evidence and leak checks."""
        return [
            *self.presenting_problems,
            *self.symptoms,
            *self.history,
            self.context.occupation,
            self.context.relationships,
            *self.coping,
            self.speaking_style,
            *self.goals,
            *self.resistances,
        ]

    def evidence_ids(self) -> set[str]:
        return {comment_id for trait in self.traits() for comment_id in trait.evidence}

    def texts(self) -> list[str]:
        return [self.name, *(trait.text for trait in self.traits())]

    @property
    def age_band(self) -> str:
        return self.context.age_band


def _bullets(title: str, traits: list[Trait] | list[Symptom]) -> list[str]:
    if not traits:
        return []
    lines = [f"{title}:"]
    for trait in traits:
        severity = f" ({trait.severity})" if isinstance(trait, Symptom) else ""
        lines.append(f"- {trait.text}{severity}")
    return lines


def _profile_lines(card: PersonaCardV1) -> list[str]:
    return [
        f"Age: {card.context.age_band}. Work: {card.context.occupation.text}. "
        f"Relationships: {card.context.relationships.text}.",
        *_bullets("Why you came to therapy", card.presenting_problems),
        *_bullets("What you experience", card.symptoms),
        *_bullets("Your history", card.history),
        *_bullets("How you cope", card.coping),
        f"How you speak: {card.speaking_style.text}",
        *_bullets("What you hope for", card.goals),
        *_bullets("What you resist", card.resistances),
    ]


def system_prompt_v1(card: PersonaCardV1) -> str:
    """The patient model's system prompt: the card in plain words, without any source ids."""
    opening = (
        f"You are {card.name}, a person in psychotherapy. Stay in character: answer as {card.name} would, "
        "in the first person, from your own experience."
    )
    return "\n".join([opening, *_profile_lines(card)])


def render_card_v1(card: PersonaCardV1) -> str:
    """A readable card for therapists (no source ids, no author hashes, no subreddit names)."""
    return "\n".join([f"Persona: {card.name}", *_profile_lines(card)])
