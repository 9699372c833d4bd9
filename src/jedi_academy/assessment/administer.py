"""Putting every item to a model, under every cyclic shift of its options, in logprob or sample mode.

logprob mode: one scoring pass per prompt variant gives the log-likelihood of each option's label as the whole
reply (the label followed by the end-of-turn marker, so that "1" is never counted as the start of "10"). The
probability of the labels themselves is the item's *option mass* (how much of the model's reply is an
answer at all); the label probabilities are normalised over the options, mapped back to option codes and
averaged over the shifts, so that a preference for a position cancels out.

sample mode: ``samples`` replies per item per shift at a set temperature, as structured output
``{"answer": <option number>}``; a refusal, an unparseable or a hedged reply ("2 or 3") is recorded as
missing, never as 0. Constrained decoding cannot refuse, so ``probes`` further replies per item are drawn
without the constraint: their refusals and unparseable answers are what the ``missing`` validity gate sees.
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from jedi_academy.assessment import stats
from jedi_academy.assessment.attention import AttentionPlan, attention_measures, interleave, is_attention
from jedi_academy.assessment.prompts import ItemPrompt, askable_items, item_prompt, orders
from jedi_academy.instruments.model import Instrument, Item
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
    order_sensitivity: float | None  # mean total-variation distance between the shifts' distributions
    n_missing: int = 0
    n_answers: int = 0
    samples: dict[str, list[int | None]] = field(default_factory=dict)
    option_mass: float | None = None  # logprob mode: probability that the reply is one of the labels
    mass_by_order: dict[str, float] = field(default_factory=dict)
    probes: list[dict[str, Any]] = field(default_factory=list)  # sample mode: unconstrained replies

    @property
    def missing(self) -> bool:
        return not self.distribution

    @property
    def probe_missing(self) -> int:
        return sum(1 for probe in self.probes if probe["answer"] is None)


@dataclass
class Administration:
    mode: str
    items: list[ItemOutcome]
    model_calls: int  # scoring requests (logprob) or generated replies (sample)
    seconds: float
    attention: list[ItemOutcome] = field(default_factory=list)  # never scored, never shown as items
    attention_calls: int = 0  # the part of model_calls spent on attention items
    plan: AttentionPlan | None = None

    @property
    def attention_measures(self) -> dict[str, Any]:
        return attention_measures(self.plan, self.attention)


def _split(
    mode: str,
    outcomes: list[ItemOutcome],
    calls: int,
    attention_calls: int,
    started: float,
    plan: AttentionPlan | None,
) -> Administration:
    items = [o for o in outcomes if not is_attention(o.item_id)]
    attention = [o for o in outcomes if is_attention(o.item_id)]
    return Administration(mode, items, calls, time.monotonic() - started, attention, attention_calls, plan)


def _outcome(item: Item, by_order: dict[str, dict[int, float]]) -> ItemOutcome:
    item_id = item.id
    present = [d for d in by_order.values() if d]
    if not present:
        return ItemOutcome(item_id, item.position, {}, by_order, None, None, None, None)
    distribution = stats.average(present)
    return ItemOutcome(
        item_id=item_id,
        position=item.position,
        distribution=distribution,
        by_order=by_order,
        expected_value=stats.expected(distribution, item.value_of),
        argmax_code=stats.argmax(distribution),
        entropy_bits=stats.entropy_bits(distribution),
        order_sensitivity=stats.mean_pairwise_total_variation(present),
    )


def prompts_for(
    instrument: Instrument, persona_prompt: str | None, plan: AttentionPlan | None = None
) -> list[ItemPrompt]:
    """Every variant of every item in the administered order (attention items at their planned places)."""
    return [
        item_prompt(instrument, item, order, persona_prompt)
        for item in interleave(askable_items(instrument), plan)
        for order in orders(item)
    ]


def _items_by_id(instrument: Instrument, plan: AttentionPlan | None) -> dict[str, Item]:
    return {item.id: item for item in interleave(askable_items(instrument), plan)}


def administer_logprob(
    llm: LLM,
    instrument: Instrument,
    persona_prompt: str | None,
    adapter: str | None = None,
    plan: AttentionPlan | None = None,
) -> Administration:
    started = time.monotonic()
    prompts = prompts_for(instrument, persona_prompt, plan)
    items_by_id = _items_by_id(instrument, plan)
    requests = [
        LoglikelihoodRequest(prompt.messages, label, adapter=adapter, complete=True)
        for prompt in prompts
        for label in prompt.codes_by_label
    ]
    results = iter(llm.loglikelihood(requests))
    by_item: dict[str, dict[str, dict[int, float]]] = {}
    masses: dict[str, dict[str, float]] = {}
    for prompt in prompts:
        logprobs = {code: next(results).logprob for code in prompt.codes_by_label.values()}
        by_item.setdefault(prompt.item_id, {})[prompt.order] = stats.normalise(logprobs)
        masses.setdefault(prompt.item_id, {})[prompt.order] = sum(math.exp(v) for v in logprobs.values())
    items = []
    for item_id, by_order in by_item.items():
        outcome = _outcome(items_by_id[item_id], by_order)
        outcome.mass_by_order = masses[item_id]
        outcome.option_mass = sum(masses[item_id].values()) / len(masses[item_id])
        items.append(outcome)
    attention_calls = sum(len(p.codes_by_label) for p in prompts if is_attention(p.item_id))
    return _split("logprob", items, len(requests), attention_calls, started, plan)


NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?![\d])")


def parse_answer(reply: str, labels: dict[str, int]) -> int | None:
    """The option code a reply chose, or None: a refusal, no number, a number that is not an option, or a
    hedged or multiple answer ("2 or 3", "between 1 and 2") that names more than one number."""
    text = reply.strip()
    try:
        parsed: Any = json.loads(text)
    except json.JSONDecodeError:
        numbers = {match.group(0) for match in NUMBER.finditer(text)}
        label = numbers.pop() if len(numbers) == 1 else None
    else:
        if isinstance(parsed, dict):
            parsed = parsed.get("answer")
        label = (
            str(parsed).strip() if isinstance(parsed, int | str) and not isinstance(parsed, bool) else None
        )
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
    probes: int = 4,
    plan: AttentionPlan | None = None,
) -> Administration:
    started = time.monotonic()
    by_item: dict[str, dict[str, dict[int, float]]] = {}
    raw: dict[str, dict[str, list[int | None]]] = {}
    probe_replies: dict[str, list[dict[str, Any]]] = {}
    calls = attention_calls = 0
    prompts = prompts_for(instrument, persona_prompt, plan)
    items_by_id = _items_by_id(instrument, plan)
    for number, prompt in enumerate(prompts):
        params = GenerationParams(
            temperature=temperature,
            max_tokens=16,
            seed=seed + 1000 * number,
            json_schema=answer_schema(prompt),
        )
        replies = llm.generate([prompt.messages] * samples, params, adapter=adapter)
        calls += len(replies)
        attention_calls += len(replies) if is_attention(prompt.item_id) else 0
        answers = [parse_answer(reply, prompt.codes_by_label) for reply in replies]
        raw.setdefault(prompt.item_id, {})[prompt.order] = answers
        given = [a for a in answers if a is not None]
        frequencies = (
            {code: given.count(code) / len(given) for code in prompt.codes_by_label.values()} if given else {}
        )
        by_item.setdefault(prompt.item_id, {})[prompt.order] = frequencies
    # attention items get no probes: they are judged on their answers, refusals are judged on the instrument's
    questionnaire = [prompt for prompt in prompts if not is_attention(prompt.item_id)]
    calls += _probe(llm, questionnaire, probes, temperature, seed, adapter, probe_replies)
    items = []
    for item_id, by_order in by_item.items():
        answers = [a for order_answers in raw[item_id].values() for a in order_answers]
        missing = sum(a is None for a in answers)
        if answers and missing / len(answers) > max_missing_share:
            by_order = {order: {} for order in by_order}
        outcome = _outcome(items_by_id[item_id], by_order)
        outcome.n_missing, outcome.n_answers, outcome.samples = missing, len(answers), raw[item_id]
        outcome.probes = probe_replies.get(item_id, [])
        items.append(outcome)
    return _split("sample", items, calls, attention_calls, started, plan)


def _probe(
    llm: LLM,
    prompts: list[ItemPrompt],
    probes: int,
    temperature: float,
    seed: int,
    adapter: str | None,
    into: dict[str, list[dict[str, Any]]],
) -> int:
    """Unconstrained replies, spread over the shifts of each item: the only place a refusal can show."""
    if probes <= 0:
        return 0
    by_item: dict[str, list[ItemPrompt]] = {}
    for prompt in prompts:
        by_item.setdefault(prompt.item_id, []).append(prompt)
    calls = 0
    for index, (item_id, variants) in enumerate(by_item.items()):
        chosen = [variants[number % len(variants)] for number in range(probes)]
        params = GenerationParams(temperature=temperature, max_tokens=48, seed=seed + 7919 * (index + 1))
        replies = llm.generate([prompt.messages for prompt in chosen], params, adapter=adapter)
        calls += len(replies)
        into[item_id] = [
            {
                "order": prompt.order,
                "reply": reply[:200],
                "answer": parse_answer(reply, prompt.codes_by_label),
            }
            for prompt, reply in zip(chosen, replies, strict=True)
        ]
    return calls
