"""Scoring one completed questionnaire: total, band, screen, subscales, rule outcomes and safety flags."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.model import Instrument, Item
from jedi_academy.instruments.rules import evaluate

Responses = Sequence[int | None] | Mapping[str, int | None]


class ResponseError(AcademyError):
    """Answers that do not fit the instrument; ``item_id`` names the item at fault where there is one."""

    def __init__(self, message: str, hint: str | None = None, item_id: str | None = None) -> None:
        super().__init__(message, hint)
        self.item_id = item_id


@dataclass(frozen=True)
class ScoreResult:
    instrument: str
    total: float | None  # None when too many answers are missing for the instrument's missing-data rule
    band: str | None
    positive_screen: bool | None  # None when the instrument has no cut-off or the total is invalid
    subscales: dict[str, float | None]
    outcomes: dict[str, bool | None]  # None when missing answers leave the rule undecided
    safety_flags: list[str]  # ids of safety items answered at or above their threshold, or left unanswered
    answers: dict[str, int | None] = field(default_factory=dict)
    item_values: dict[str, float | None] = field(default_factory=dict)
    missing_items: list[str] = field(default_factory=list)
    prorated: bool = False

    @property
    def valid(self) -> bool:
        return self.total is not None

    def as_dict(self) -> dict[str, Any]:
        """The seven keys of ``academy instruments score --json``."""
        return {
            "instrument": self.instrument,
            "total": _plain(self.total),
            "band": self.band,
            "positive_screen": self.positive_screen,
            "subscales": {key: _plain(value) for key, value in self.subscales.items()},
            "outcomes": dict(self.outcomes),
            "safety_flags": list(self.safety_flags),
        }


def _plain(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 4)


def _round_half_up(value: float) -> float:
    return float(math.floor(value + 0.5))


def normalise_responses(instrument: Instrument, responses: Responses) -> dict[str, int | None]:
    """Check the answers and return them keyed by item id, in form order (None = no answer)."""
    if isinstance(responses, Mapping):
        responses = {str(key): value for key, value in responses.items()}
        unknown = [key for key in responses if key not in {item.id for item in instrument.items}]
        if unknown:
            raise ResponseError(
                f"{instrument.id} has no item '{unknown[0]}'",
                f"items are {', '.join(item.id for item in instrument.items)}",
                item_id=str(unknown[0]),
            )
        given: list[int | None] = [responses.get(item.id) for item in instrument.items]
    else:
        given = list(responses)
        _check_count(instrument, given)
        given += [None] * (len(instrument.items) - len(given))
    return {
        item.id: _check_answer(instrument, item, answer)
        for item, answer in zip(instrument.items, given, strict=True)
    }


def _check_count(instrument: Instrument, given: list[Any]) -> None:
    needed, most = instrument.required_count, len(instrument.items)
    expected = str(needed) if needed == most else f"{needed} to {most}"
    if len(given) < needed:
        item = instrument.items[len(given)]
        raise ResponseError(
            f"{instrument.id} takes {expected} answers, got {len(given)}: item {item.id} has no answer",
            "give one answer per item in form order; leave a missing answer empty (e.g. 1,,3)",
            item_id=item.id,
        )
    if len(given) > most:
        raise ResponseError(
            f"{instrument.id} takes {expected} answers, got {len(given)}: "
            f"answer {most + 1} has no item (the form ends at item {instrument.items[-1].id})",
            "give one answer per item in form order",
        )


def _check_answer(instrument: Instrument, item: Item, answer: Any) -> int | None:
    if answer is None:
        return None
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise ResponseError(
            f"{instrument.id} item {item.id}: answer {answer!r} is not a whole-number code",
            _choices(item),
            item_id=item.id,
        )
    if answer not in item.codes:
        raise ResponseError(
            f"{instrument.id} item {item.id}: answer {answer} is out of range",
            _choices(item),
            item_id=item.id,
        )
    return answer


def _choices(item: Item) -> str:
    return "codes: " + ", ".join(f"{option.code} = {option.label}" for option in item.options)


def _combine(values: list[float | None], method: str, prorate_to: int, integral: bool) -> float | None:
    answered = [value for value in values if value is not None]
    if not answered:
        return None
    if method == "mean":
        return sum(answered) / len(answered)
    if len(answered) == len(values):
        return float(sum(answered))
    prorated = sum(answered) * prorate_to / len(answered)
    return _round_half_up(prorated) if integral else prorated


def _value(item: Item, code: int | None) -> float | None:
    return None if code is None else item.value_of(code)


def _raw(code: int | None) -> float | None:
    return None if code is None else float(code)


def _needs_follow_up(code: int | None, threshold: int) -> bool:
    # An unanswered safety item is flagged: the risk it asks about has not been ruled out.
    return code is None or code >= threshold


def score(instrument: Instrument | str, responses: Responses) -> ScoreResult:
    """Score one set of answers: a list of codes in form order (None = no answer), or item id -> code."""
    if isinstance(instrument, str):
        from jedi_academy.instruments.api import load_instrument

        instrument = load_instrument(instrument)
    definition = instrument.definition
    answers = normalise_responses(instrument, responses)
    values = {item.id: _value(item, answers[item.id]) for item in instrument.items}
    scored = instrument.scored_items
    missing = [item.id for item in scored if answers[item.id] is None]
    valid = len(missing) <= definition.scoring.missing.max_missing
    integral = all(option.value.is_integer() for item in scored for option in item.options)

    total = None
    subscales: dict[str, float | None] = {subscale.id: None for subscale in definition.subscales}
    if valid:
        total = _combine([values[i.id] for i in scored], definition.scoring.method, len(scored), integral)
        for subscale in definition.subscales:
            raw = subscale.use == "raw"
            parts = [_raw(answers[i]) if raw else values[i] for i in subscale.items]
            subscales[subscale.id] = _combine(parts, subscale.method, len(parts), integral or raw)

    band = None
    if total is not None:
        band = next((b.label for b in definition.bands if b.min <= total <= b.max), None)
    positive = None
    if definition.screening is not None and total is not None:
        positive = total >= definition.screening.cutoff
    outcomes = {o.id: evaluate(o.rule, answers, total, subscales) for o in definition.outcomes}
    flags = [s.item for s in definition.safety if _needs_follow_up(answers[s.item], s.code_at_least)]
    return ScoreResult(
        instrument=instrument.id,
        total=total,
        band=band,
        positive_screen=positive,
        subscales=subscales,
        outcomes=outcomes,
        safety_flags=flags,
        answers=answers,
        item_values=values,
        missing_items=missing,
        prorated=valid and bool(missing) and definition.scoring.method == "sum",
    )
