"""Dataset statistics beyond token counts: diversity, the therapist's technique mix, flags and exclusions.

- **distinct-n**: distinct word n-grams over all n-grams of the patient answers (n = 1, 2), the usual
  measure of lexical diversity in dialogue generation.
- **near-duplicate rate**: the share of answers (and of persona cards) that have at least one other answer
  (card) with a word-trigram Jaccard similarity of ``NEAR_DUPLICATE`` or more. Candidate pairs come from an
  inverted index over trigrams, so common cases stay far below quadratic.
- **mixes**: conversational styles (per persona), approaches (per conversation), techniques and the share of
  unhelpful therapist turns (per turn), from provenance.
- **flags**: answers kept with a natural first-person disclosure that touches instrument wording, by
  instrument and item.
- **excluded**: conversations left out at build time, by reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from jedi_academy.guard.overlap import Words, jaccard, shingles, words

NEAR_DUPLICATE = 0.5
SHINGLE = 3


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    grams: list[Words] = []
    for text in texts:
        tokens = words(text)
        grams.extend(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return round(len(set(grams)) / len(grams), 4) if grams else None


def near_duplicate_rate(texts: Sequence[str], threshold: float = NEAR_DUPLICATE) -> float | None:
    """Share of texts with at least one near-duplicate among the others."""
    if len(texts) < 2:
        return None
    sets = []
    for text in texts:
        tokens = words(text)
        sets.append(shingles(tokens, SHINGLE) if len(tokens) >= SHINGLE else {tokens})
    index: dict[Words, list[int]] = defaultdict(list)
    for number, found in enumerate(sets):
        for shingle in found:
            index[shingle].append(number)
    duplicated: set[int] = set()
    for number, found in enumerate(sets):
        if number in duplicated:
            continue
        candidates = {other for shingle in found for other in index[shingle] if other != number}
        for other in candidates:
            if jaccard(found, sets[other]) >= threshold:
                duplicated.update((number, other))
                break
    return round(len(duplicated) / len(texts), 4)


def share(counter: Counter[str]) -> dict[str, float]:
    total = sum(counter.values())
    return {key: round(value / total, 4) for key, value in sorted(counter.items())} if total else {}


def dataset_stats(
    conversations: Sequence[Any],
    cards: dict[str, Any],
    excluded: Counter[str],
    disclosures: Callable[[str], list[Any]],
) -> dict[str, Any]:
    """``conversations``: stored rows (with turns and provenance); ``cards``: persona id -> card;
    ``disclosures``: the guard's natural-disclosure finder, re-run on every answer (stored flags are not
    trusted)."""
    answers = [turn.answer for c in conversations for turn in c.turns]
    styles: Counter[str] = Counter()
    for persona_id in sorted({c.persona_id for c in conversations}):
        card = cards.get(persona_id)
        styles[getattr(card, "conversational_style", None) or "unstyled (card v1)"] += 1
    approaches: Counter[str] = Counter(
        c.provenance.get("approach") or "question bank (v1)" for c in conversations
    )
    techniques: Counter[str] = Counter()
    unhelpful = tagged = 0
    flags: Counter[str] = Counter()
    flagged_answers = 0
    ended_early: Counter[str] = Counter()
    for conversation in conversations:
        details = [d for d in conversation.provenance.get("turns", []) if isinstance(d, dict)]
        for detail in details:
            if detail.get("technique"):
                techniques[detail["technique"]] += 1
                tagged += 1
                unhelpful += detail.get("helpful") is False
        if conversation.provenance.get("ended_early"):
            ended_early[conversation.provenance["ended_early"]] += 1
    for answer in answers:
        found = disclosures(answer)
        flagged_answers += bool(found)
        for match in found:
            flags[f"{match.instrument_id} {match.where}"] += 1
    card_texts = [" ".join(card.texts()[1:]) for card in cards.values()]
    return {
        "diversity": {
            "answers": len(answers),
            "distinct_1": distinct_n(answers, 1),
            "distinct_2": distinct_n(answers, 2),
            "near_duplicate_answers": near_duplicate_rate(answers),
            "near_duplicate_cards": near_duplicate_rate(card_texts),
        },
        "styles": dict(sorted(styles.items())),
        "approaches": dict(sorted(approaches.items())),
        "techniques": dict(sorted(techniques.items())),
        "unhelpful_share": round(unhelpful / tagged, 4) if tagged else None,
        "flags": {"answers_flagged": flagged_answers, "by_item": dict(sorted(flags.items()))},
        "excluded": dict(sorted(excluded.items())),
        "ended_early": dict(sorted(ended_early.items())),
    }
