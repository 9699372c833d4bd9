"""The contamination guard: training text must not contain the wording of the instruments that will assess
the fine-tuned patient, or the assessment would measure memorised answers.

Instrument phrases are the item texts, the stem, the instructions and the option labels. A phrase of at least
``shingle_size`` words contributes its ``shingle_size``-word shingles; a shorter phrase of at least
``min_phrase_words`` words is matched whole. Shingles made almost only of function words ("how often have
you been") are ignored: each must hold at least ``min_content_words`` other words. A text is contaminated
when it shares ``min_shared`` or more such shingles with one phrase.

Defaults: 5-word shingles, phrases of 4+ words, 2 content words per shingle, 1 shared shingle. An instrument
whose licence keeps its text out of the package can only be checked once its text has been imported
(``academy instruments import``); the guard lists those it could not check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jedi_academy.personas.overlap import Words, shingles, words

if TYPE_CHECKING:
    from pathlib import Path

    from jedi_academy.instruments import Instrument

FUNCTION_WORDS = frozenset(
    {
        "a", "an", "the", "and", "or", "but", "nor", "if", "then", "so", "as", "of", "to", "in",
        "on", "at", "by", "for", "with", "from", "about", "into", "over", "under", "than", "too",
        "very", "any", "some", "such", "more", "most", "much", "many", "other", "own", "same",
        "each", "every", "all", "both", "few", "no", "not", "only", "just", "also", "is", "are",
        "was", "were", "be", "been", "being", "am", "do", "does", "did", "have", "has", "had",
        "having", "i", "me", "my", "myself", "you", "your", "yourself", "yourselves", "we", "us",
        "our", "he", "him", "his", "she", "her", "it", "its", "they", "them", "their", "this",
        "that", "these", "those", "there", "here", "what", "which", "who", "whom", "when", "where",
        "why", "how", "can", "could", "would", "should", "will", "shall", "may", "might", "must",
    }
)  # fmt: skip


@dataclass(frozen=True)
class GuardSettings:
    shingle_size: int = 5
    min_phrase_words: int = 4
    min_content_words: int = 2
    min_shared: int = 1


@dataclass(frozen=True)
class Phrase:
    instrument_id: str
    kind: str  # item | stem | instructions | option
    where: str  # "item 3", "stem", "instructions", "option 'Nearly every day'"
    text: str


@dataclass(frozen=True)
class Match:
    instrument_id: str
    where: str
    shared: int  # shingles in common


@dataclass
class ContaminationGuard:
    phrases: list[Phrase]
    settings: GuardSettings = field(default_factory=GuardSettings)
    unchecked_instruments: list[str] = field(default_factory=list)  # no text to check against

    def __post_init__(self) -> None:
        # shingle length -> shingle -> indexes of the phrases it comes from
        self._index: dict[int, dict[Words, set[int]]] = defaultdict(lambda: defaultdict(set))
        for number, phrase in enumerate(self.phrases):
            for shingle in self._phrase_shingles(words(phrase.text)):
                self._index[len(shingle)][shingle].add(number)

    def _phrase_shingles(self, tokens: Words) -> set[Words]:
        s = self.settings
        if len(tokens) < s.min_phrase_words:
            return set()
        found = shingles(tokens, s.shingle_size) if len(tokens) >= s.shingle_size else {tokens}
        return {sh for sh in found if sum(w not in FUNCTION_WORDS for w in sh) >= s.min_content_words}

    @property
    def checked_instruments(self) -> list[str]:
        """Instruments whose item wording is checked (option labels alone do not count)."""
        return sorted({p.instrument_id for p in self.phrases if p.kind == "item"})

    def matches(self, text: str) -> list[Match]:
        """The instrument phrases ``text`` reproduces (by at least ``min_shared`` shingles)."""
        tokens = words(text)
        shared: dict[int, set[Words]] = defaultdict(set)
        for size, table in self._index.items():
            for shingle in shingles(tokens, size):
                for number in table.get(shingle, ()):
                    shared[number].add(shingle)
        return [
            Match(self.phrases[n].instrument_id, self.phrases[n].where, len(found))
            for n, found in sorted(shared.items())
            if len(found) >= self.settings.min_shared
        ]

    def is_contaminated(self, text: str) -> bool:
        return bool(self.matches(text))


def instrument_phrases(instrument: Instrument) -> list[Phrase]:
    found: list[Phrase] = []
    for kind, text in (("stem", instrument.stem), ("instructions", instrument.instructions)):
        if text:
            found.append(Phrase(instrument.id, kind, kind, text))
    for item in instrument.items:
        if item.text:
            found.append(Phrase(instrument.id, "item", f"item {item.id}", item.text))
        for option in item.options:
            found.append(Phrase(instrument.id, "option", f"option {option.label!r}", option.label))
    return list(dict.fromkeys(found))


def guard_for_instruments(
    instruments: Iterable[Instrument], settings: GuardSettings | None = None
) -> ContaminationGuard:
    phrases: list[Phrase] = []
    unchecked: list[str] = []
    for instrument in instruments:
        found = instrument_phrases(instrument)
        phrases.extend(found)
        if not any(p.kind == "item" for p in found):
            unchecked.append(instrument.id)
    return ContaminationGuard(phrases, settings or GuardSettings(), unchecked)


def guard_for_specialization(
    specialization_id: str,
    instrument_ids: Iterable[str] = (),
    *,
    data_dir: Path | None = None,
    settings: GuardSettings | None = None,
) -> ContaminationGuard:
    """The guard over every instrument of a specialization: those named in its definition plus those whose
    definitions name it; imported item text under ``data_dir`` is included."""
    from jedi_academy.instruments import instruments_for_specialization, load_instrument

    wanted = list(dict.fromkeys([*instrument_ids, *instruments_for_specialization(specialization_id)]))
    return guard_for_instruments([load_instrument(i, data_dir=data_dir) for i in wanted], settings)
