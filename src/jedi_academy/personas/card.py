"""The persona card, schema version 2: who a simulated patient is, built on Beck's cognitive model.

Every grounded trait carries ``basis`` (``stated``: the author says it; ``inferred``: it follows from what
they say) and ``evidence``, the ids of the comments that support it. Fields the comments say nothing about
are ``"not stated"`` (basis ``not stated``, no evidence), and trait lists may be empty: a card never has to
invent. ``evidence`` stays in provenance: the system prompt and every therapist-facing view drop it.

Two fields are not read from the comments: ``conversational_style`` is assigned so that styles are balanced
across a specialization, and ``schema_version`` marks the card format. Version-1 cards (stored before this
schema) stay readable through :func:`read_card`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jedi_academy.personas.card_v1 import PROMPT_VERSION_V1, PersonaCardV1, render_card_v1, system_prompt_v1

SCHEMA_VERSION: Final = 2
PROMPT_VERSION = "persona-prompt-2"  # the patient system prompt rendered from a v2 card
NOT_STATED = "not stated"

Basis = Literal["stated", "inferred"]
MaybeBasis = Literal["stated", "inferred", "not stated"]
Severity = Literal["mild", "moderate", "severe"]
AgeBand = Literal["18-24", "25-34", "35-44", "45-54", "55-64", "65+", "not stated"]
Style = Literal["plain", "upset", "verbose", "reserved", "tangent", "pleasing"]
STYLES: tuple[str, ...] = ("plain", "upset", "verbose", "reserved", "tangent", "pleasing")
BeliefFamily = Literal["helpless", "unlovable", "worthless"]
StageName = Literal["precontemplation", "contemplation", "preparation", "action", "maintenance", "not stated"]
ResistanceMove = Literal["deny", "downplay", "blame", "hesitate", "reject"]
Ideation = Literal["none", "passive", "active", "plan", "not stated"]
SelfHarm = Literal["none", "past", "current", "not stated"]
SubstanceUse = Literal["none", "some", "problematic", "not stated"]

# How each conversational style answers (the patient prompt; our wording after Patient-Psi's six types).
STYLE_NOTES: dict[str, str] = {
    "plain": "You answer directly and clearly, usually in two to four sentences.",
    "upset": "You are upset and quick to feel criticised: you may sound irritated, challenge the "
    "therapist or say this is pointless, usually in two to four sentences.",
    "verbose": "You talk at length, five to eight sentences, with details, examples and side remarks.",
    "reserved": "You say little: one or two short sentences, and details have to be drawn out of you.",
    "tangent": "You drift into related stories and side topics and need to be brought back, usually in "
    "three to six sentences.",
    "pleasing": "You want the therapist to like you: you agree quickly, play problems down and keep "
    "disagreement to yourself, usually in two to four sentences.",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trait(_Strict):
    text: str = Field(min_length=3, max_length=240)
    basis: Basis
    evidence: list[str] = Field(min_length=1, max_length=4)


class Symptom(Trait):
    severity: Severity


class CoreBelief(Trait):
    family: BeliefFamily


class Resistance(Trait):
    move: ResistanceMove  # how this person pushes back (ConsistentMI's client actions)


class Fact(_Strict):
    """A single detail that may be ``"not stated"``."""

    text: str = Field(min_length=3, max_length=240)
    basis: MaybeBasis
    evidence: list[str] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _grounded_or_not_stated(self) -> Fact:
        _check_basis(self.basis, self.text == NOT_STATED, self.evidence)
        return self


def _check_basis(basis: str, value_not_stated: bool, evidence: list[str]) -> None:
    if (basis == NOT_STATED) != value_not_stated:
        raise ValueError('basis "not stated" goes with the value "not stated", and only with it')
    if basis == NOT_STATED and evidence:
        raise ValueError('a "not stated" field cites no evidence')
    if basis != NOT_STATED and not evidence:
        raise ValueError("a stated or inferred field cites at least one comment")


class Situation(_Strict):
    """One situation -> automatic thought -> emotion -> behaviour chain."""

    situation: str = Field(min_length=3, max_length=240)
    automatic_thought: str = Field(min_length=3, max_length=240)
    emotion: str = Field(min_length=3, max_length=80)
    behaviour: str = Field(min_length=3, max_length=240)
    basis: Basis
    evidence: list[str] = Field(min_length=1, max_length=4)

    @property
    def text(self) -> str:
        return (
            f"{self.situation} -> thinks: {self.automatic_thought} -> feels: {self.emotion} -> "
            f"does: {self.behaviour}"
        )


class CognitiveModel(_Strict):
    relevant_history: list[Trait] = Field(max_length=4)
    core_beliefs: list[CoreBelief] = Field(max_length=3)
    intermediate_beliefs: list[Trait] = Field(max_length=4)  # attitudes, rules, assumptions
    coping_strategies: list[Trait] = Field(max_length=4)
    situations: list[Situation] = Field(min_length=2, max_length=4)


class Demographics(_Strict):
    age_band: AgeBand
    gender: Fact
    occupation: Fact
    relationships: Fact
    living_situation: Fact


class StageOfChange(_Strict):
    stage: StageName
    basis: MaybeBasis
    evidence: list[str] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _grounded_or_not_stated(self) -> StageOfChange:
        _check_basis(self.basis, self.stage == NOT_STATED, self.evidence)
        return self


class RiskLevel(_Strict):
    level: str
    basis: MaybeBasis
    evidence: list[str] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _grounded_or_not_stated(self) -> RiskLevel:
        _check_basis(self.basis, self.level == NOT_STATED, self.evidence)
        return self


class IdeationLevel(RiskLevel):
    level: Ideation


class SelfHarmLevel(RiskLevel):
    level: SelfHarm


class SubstanceLevel(RiskLevel):
    level: SubstanceUse


class Risk(_Strict):
    suicidal_ideation: IdeationLevel
    self_harm: SelfHarmLevel
    substances: SubstanceLevel
    protective_factors: list[Trait] = Field(max_length=4)

    @property
    def any_reported(self) -> bool:
        return (
            self.suicidal_ideation.level in ("passive", "active", "plan")
            or self.self_harm.level in ("past", "current")
            or self.substances.level == "problematic"
        )


class PersonaCard(_Strict):
    schema_version: Literal[2] = SCHEMA_VERSION
    name: str = Field(min_length=2, max_length=40, description="an invented first name")
    conversational_style: Style = "plain"
    presenting_problems: list[Trait] = Field(min_length=1, max_length=4)
    symptoms: list[Symptom] = Field(max_length=6)
    demographics: Demographics
    cognitive_model: CognitiveModel
    stage_of_change: StageOfChange
    resistances: list[Resistance] = Field(max_length=4)
    goals: list[Trait] = Field(max_length=3)
    speaking_style: Fact
    risk: Risk

    def grounded(self) -> Iterator[tuple[str, str, list[str]]]:
        """(path, text, evidence) of every element that cites comments, for grounding and leak checks."""
        for field in ("presenting_problems", "symptoms", "resistances", "goals"):
            for n, trait in enumerate(getattr(self, field)):
                yield f"{field}.{n}", trait.text, trait.evidence
        for field in ("gender", "occupation", "relationships", "living_situation"):
            fact = getattr(self.demographics, field)
            if fact.basis != NOT_STATED:
                yield f"demographics.{field}", fact.text, fact.evidence
        model = self.cognitive_model
        for field in ("relevant_history", "core_beliefs", "intermediate_beliefs", "coping_strategies"):
            for n, trait in enumerate(getattr(model, field)):
                yield f"cognitive_model.{field}.{n}", trait.text, trait.evidence
        for n, situation in enumerate(model.situations):
            yield f"cognitive_model.situations.{n}", situation.text, situation.evidence
        if self.stage_of_change.basis != NOT_STATED:
            stage = self.stage_of_change
            yield "stage_of_change", f"stage of change: {stage.stage}", stage.evidence
        if self.speaking_style.basis != NOT_STATED:
            yield "speaking_style", self.speaking_style.text, self.speaking_style.evidence
        for field in ("suicidal_ideation", "self_harm", "substances"):
            level = getattr(self.risk, field)
            if level.basis != NOT_STATED:
                yield f"risk.{field}", f"{field.replace('_', ' ')}: {level.level}", level.evidence
        for n, trait in enumerate(self.risk.protective_factors):
            yield f"risk.protective_factors.{n}", trait.text, trait.evidence

    def texts(self) -> list[str]:
        """Everything the card says in its own words (for privacy and contamination checks)."""
        found = [self.name]
        for path, text, _ in self.grounded():
            if not path.startswith(("stage_of_change", "risk.s")):
                found.append(text)
        return found

    def evidence_ids(self) -> set[str]:
        return {comment_id for _, _, evidence in self.grounded() for comment_id in evidence}

    @property
    def age_band(self) -> str:
        return self.demographics.age_band

    def bases(self) -> dict[str, int]:
        """How many grounded elements are stated, inferred, and how many fields are not stated."""
        counts = {"stated": 0, "inferred": 0, NOT_STATED: 0}
        for path, _, _ in self.grounded():
            counts[_basis_at(self, path)] += 1
        facts = [
            *(
                getattr(self.demographics, f)
                for f in ("gender", "occupation", "relationships", "living_situation")
            ),
            self.speaking_style,
            self.stage_of_change,
            self.risk.suicidal_ideation,
            self.risk.self_harm,
            self.risk.substances,
        ]
        counts[NOT_STATED] = sum(1 for f in facts if f.basis == NOT_STATED)
        return counts


def _basis_at(card: PersonaCard, path: str) -> str:
    value: Any = card
    for part in path.split("."):
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    return str(value.basis)


AnyCard = PersonaCard | PersonaCardV1


def read_card(data: dict[str, Any] | AnyCard) -> AnyCard:
    """A stored card of either schema version (version 1 has no ``schema_version``)."""
    if isinstance(data, PersonaCard | PersonaCardV1):
        return data
    if data.get("schema_version", 1) == 1:
        return PersonaCardV1.model_validate(data)
    return PersonaCard.model_validate(data)


def card_version(card: AnyCard) -> int:
    return SCHEMA_VERSION if isinstance(card, PersonaCard) else 1


def patient_prompt_version(card: AnyCard) -> str:
    return PROMPT_VERSION if isinstance(card, PersonaCard) else PROMPT_VERSION_V1


def _known(fact: Fact) -> str | None:
    return None if fact.basis == NOT_STATED else fact.text


def _bullets(title: str, lines: list[str]) -> list[str]:
    return [f"{title}:", *(f"- {line}" for line in lines)] if lines else []


def intake_facts(card: PersonaCard) -> dict[str, Any]:
    """What a referral would tell a therapist: presenting problems, demographics, stage of change and risk,
    without evidence ids and without the cognitive model (which the therapist is meant to discover)."""
    demo = card.demographics
    risk = card.risk
    return {
        "name": card.name,
        "presenting_problems": [t.text for t in card.presenting_problems],
        "age_band": demo.age_band,
        "gender": demo.gender.text,
        "occupation": demo.occupation.text,
        "relationships": demo.relationships.text,
        "living_situation": demo.living_situation.text,
        "stage_of_change": card.stage_of_change.stage,
        "risk": {
            "suicidal_ideation": risk.suicidal_ideation.level,
            "self_harm": risk.self_harm.level,
            "substances": risk.substances.level,
            "protective_factors": [t.text for t in risk.protective_factors],
        },
    }


def _profile_lines(card: PersonaCard) -> list[str]:
    demo = card.demographics
    about = [
        f"Age: {demo.age_band}" if demo.age_band != NOT_STATED else None,
        f"Gender: {_known(demo.gender)}" if _known(demo.gender) else None,
        f"Work: {_known(demo.occupation)}" if _known(demo.occupation) else None,
        f"Relationships: {_known(demo.relationships)}" if _known(demo.relationships) else None,
        f"Living situation: {_known(demo.living_situation)}" if _known(demo.living_situation) else None,
    ]
    model = card.cognitive_model
    risk = card.risk
    risk_lines = [
        f"Thoughts of suicide: {risk.suicidal_ideation.level}"
        if risk.suicidal_ideation.basis != NOT_STATED
        else None,
        f"Self-harm: {risk.self_harm.level}" if risk.self_harm.basis != NOT_STATED else None,
        f"Alcohol or drugs: {risk.substances.level}" if risk.substances.basis != NOT_STATED else None,
        *(f"What keeps you going: {t.text}" for t in risk.protective_factors),
    ]
    stage = card.stage_of_change.stage
    return [
        ". ".join(line for line in about if line) + ("." if any(about) else ""),
        *_bullets("Why you came to therapy", [t.text for t in card.presenting_problems]),
        *_bullets("What you experience", [f"{s.text} ({s.severity})" for s in card.symptoms]),
        *_bullets("Your history", [t.text for t in model.relevant_history]),
        *_bullets("What you deeply believe about yourself", [t.text for t in model.core_beliefs]),
        *_bullets("Your rules and assumptions", [t.text for t in model.intermediate_beliefs]),
        *_bullets("How you cope", [t.text for t in model.coping_strategies]),
        *_bullets("Typical moments", [s.text for s in model.situations]),
        f"Readiness to change: {stage}." if stage != NOT_STATED else "",
        *_bullets("How you push back", [f"{t.text} ({t.move})" for t in card.resistances]),
        *_bullets("What you hope for", [t.text for t in card.goals]),
        *_bullets("Risk", [line for line in risk_lines if line]),
        f"How you speak: {_known(card.speaking_style)}" if _known(card.speaking_style) else "",
        f"Conversational style ({card.conversational_style}): {STYLE_NOTES[card.conversational_style]}",
    ]


def system_prompt(card: AnyCard) -> str:
    """The patient model's system prompt: the card in plain words, without any source ids."""
    if isinstance(card, PersonaCardV1):
        return system_prompt_v1(card)
    opening = (
        f"You are {card.name}, a person in psychotherapy. Stay in character: answer as {card.name} would, "
        "in the first person, from your own experience. Never state your beliefs as a list; they show in how "
        "you react."
    )
    return "\n".join(line for line in [opening, *_profile_lines(card)] if line)


def render_card(card: AnyCard) -> str:
    """A readable card (no source ids, no author hashes, no subreddit names)."""
    if isinstance(card, PersonaCardV1):
        return render_card_v1(card)
    lines = [f"Persona: {card.name} (card v{SCHEMA_VERSION})", *_profile_lines(card)]
    return "\n".join(line for line in lines if line)
