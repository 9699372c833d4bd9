"""Putting every item to a model, in two option orders, in logprob or sample mode.

logprob mode: one scoring pass per prompt variant gives the log-likelihood of each option's number; the
probabilities are normalised over the options, mapped back to option codes and averaged over the two orders,
so that a preference for a position (first-listed, last-listed) cancels out.

sample mode: ``samples`` replies per item per order at a set temperature, as structured output
``{"answer": <option number>}``; a refusal or unparseable reply is recorded as missing, never as 0.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from jedi_academy.assessment import stats
from jedi_academy.assessment.prompts import ORDERS, ItemPrompt, askable_items, item_prompt
from jedi_academy.instruments.model import Instrument
from jedi_academy.llm import LLM, GenerationParams, LoglikelihoodRequest


@dataclass
class ItemOutcome:
    item_id: str
    position: int
    distribution: dict[int, float]  # option code -> probability; empty when the item is missing
    by_order: dict[str, dict[int, float]]
    expected_value: float | None
    argmax_code: int | None
    entropy_bits: float | None
    order_sensitivity: float | None  # total-variation distance between the two orders' distributions
    n_missing: int = 0
    n_answers: int = 0
    samples: dict[str, list[int | None]] = field(default_factory=dict)

    @property
    def missing(self) -> bool:
        return not self.distribution


@dataclass
class Administration:
    mode: str
    items: list[ItemOutcome]
    model_calls: int  # scoring requests (logprob) or generated replies (sample)
    seconds: float


def _outcome(instrument: Instrument, item_id: str, by_order: dict[str, dict[int, float]]) -> ItemOutcome:
    item = instrument.item(item_id)
    present = [d for d in by_order.values() if d]
    if not present:
        return ItemOutcome(item_id, item.position, {}, by_order, None, None, None, None)
    distribution = stats.average(present)
    sensitivity = stats.total_variation(*present) if len(present) == 2 else None
    return ItemOutcome(
        item_id=item_id,
        position=item.position,
        distribution=distribution,
        by_order=by_order,
        expected_value=stats.expected(distribution, item.value_of),
        argmax_code=stats.argmax(distribution),
        entropy_bits=stats.entropy_bits(distribution),
        order_sensitivity=sensitivity,
    )


def prompts_for(instrument: Instrument, persona_prompt: str | None) -> list[ItemPrompt]:
    return [
        item_prompt(instrument, item, order, persona_prompt)
        for item in askable_items(instrument)
        for order in ORDERS
    ]


def administer_logprob(
    llm: LLM, instrument: Instrument, persona_prompt: str | None, adapter: str | None = None
) -> Administration:
    started = time.monotonic()
    prompts = prompts_for(instrument, persona_prompt)
    requests = [
        LoglikelihoodRequest(prompt.messages, label, adapter=adapter)
        for prompt in prompts
        for label in prompt.codes_by_label
    ]
    results = iter(llm.loglikelihood(requests))
    by_item: dict[str, dict[str, dict[int, float]]] = {}
    for prompt in prompts:
        logprobs = {code: next(results).logprob for code in prompt.codes_by_label.values()}
        by_item.setdefault(prompt.item_id, {})[prompt.order] = stats.normalise(logprobs)
    items = [_outcome(instrument, item_id, orders) for item_id, orders in by_item.items()]
    return Administration("logprob", items, len(requests), time.monotonic() - started)


ANSWER = re.compile(r"^\W*(\d{1,2})\b")


def parse_answer(reply: str, labels: dict[str, int]) -> int | None:
    """The option code a reply chose, or None (refusal, no number, a number that is not an option)."""
    text = reply.strip()
    label: str | None = None
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError:
        match = ANSWER.match(text)
        label = match.group(1) if match else None
    else:
        if isinstance(parsed, dict):
            parsed = parsed.get("answer")
        if isinstance(parsed, int | str) and not isinstance(parsed, bool):
            label = str(parsed).strip()
    return labels.get(label) if label is not None else None


def answer_schema(prompt: ItemPrompt) -> dict[str, Any]:
    labels = [int(label) for label in prompt.codes_by_label]
    return {
        "type": "object",
        "properties": {"answer": {"type": "integer", "enum": labels}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def administer_sample(
    llm: LLM,
    instrument: Instrument,
    persona_prompt: str | None,
    *,
    samples: int,
    temperature: float,
    seed: int,
    adapter: str | None = None,
    max_missing_share: float = 0.5,
) -> Administration:
    started = time.monotonic()
    by_item: dict[str, dict[str, dict[int, float]]] = {}
    raw: dict[str, dict[str, list[int | None]]] = {}
    calls = 0
    for number, prompt in enumerate(prompts_for(instrument, persona_prompt)):
        params = GenerationParams(
            temperature=temperature,
            max_tokens=16,
            seed=seed + 1000 * number,
            json_schema=answer_schema(prompt),
        )
        replies = llm.generate([prompt.messages] * samples, params, adapter=adapter)
        calls += len(replies)
        answers = [parse_answer(reply, prompt.codes_by_label) for reply in replies]
        raw.setdefault(prompt.item_id, {})[prompt.order] = answers
        given = [a for a in answers if a is not None]
        frequencies = (
            {code: given.count(code) / len(given) for code in prompt.codes_by_label.values()} if given else {}
        )
        by_item.setdefault(prompt.item_id, {})[prompt.order] = frequencies
    items = []
    for item_id, orders in by_item.items():
        answers = [a for order_answers in raw[item_id].values() for a in order_answers]
        missing = sum(a is None for a in answers)
        if answers and missing / len(answers) > max_missing_share:
            orders = {order: {} for order in orders}
        outcome = _outcome(instrument, item_id, orders)
        outcome.n_missing, outcome.n_answers, outcome.samples = missing, len(answers), raw[item_id]
        items.append(outcome)
    return Administration("sample", items, calls, time.monotonic() - started)
