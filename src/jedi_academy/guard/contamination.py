"""The contamination guard: training text must not contain the wording of the instruments that will assess
the fine-tuned patient, or the assessment would measure memorised answers.

Instrument phrases are the item texts, the stem, the instructions and the option labels. A phrase of at least
``shingle_size`` words contributes its ``shingle_size``-word shingles; a shorter phrase of at least
``min_phrase_words`` words is matched whole. Shingles made almost only of function words ("how often have
you been") are ignored: each must hold at least ``min_content_words`` other words. A sentence matches a
phrase when it shares ``min_shared`` or more such shingles with it.

Not every match is a copy. "Sometimes I think I would be better off dead." shares five words with PHQ-9
item 9, yet it is what a patient says, and training data must keep such disclosures. A match is a
*natural disclosure* (kept, and flagged for the dataset statistics) when its sentence is short
(``max_disclosure_words``), in the first person, shares no run longer than ``max_disclosure_run`` words
with the phrase, and covers less than ``max_disclosure_coverage`` of the phrase's shingles. Every other
match is *verbatim* questionnaire phrasing, and text holding one is contaminated.

Defaults: 5-word shingles, phrases of 4+ words, 2 content words per shingle, 1 shared shingle; disclosures
up to 25 words, runs up to 6 words, under half of the phrase. The guard covers every instrument that may be
administered: :func:`guard_for_all_instruments` loads every shipped definition with text imported under the
data folder; an instrument whose licence keeps its text out of the package can only be checked once its
text has been imported (``academy instruments import``), and the guard lists those it could not check.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from jedi_academy.guard.overlap import Words, longest_common_run, shingles, words

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


GUARD_VERSION = "guard-2"

FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "myself", "mine", "im", "ive"})


@dataclass(frozen=True)
class GuardSettings:
    shingle_size: int = 5
    min_phrase_words: int = 4
    min_content_words: int = 2
    min_shared: int = 1
    max_disclosure_words: int = 25  # longer sentences are never treated as natural disclosures
    max_disclosure_run: int = 6  # longest word run a disclosure may share with the phrase
    max_disclosure_coverage: float = 0.5  # share of the phrase's shingles a disclosure must stay under


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
    kind: str = "verbatim"  # verbatim | disclosure
    sentence: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"instrument": self.instrument_id, "where": self.where, "kind": self.kind}


_SENTENCE = re.compile(r"[^.!?…\n]+[.!?…]*")


def sentences(text: str) -> list[str]:
    return [part.strip() for part in _SENTENCE.findall(text) if part.strip()]


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

    @property
    def instrument_versions(self) -> dict[str, str]:
        """instrument id -> hash of the phrases checked for it (changes when its text or import changes)."""
        by_instrument: dict[str, list[str]] = defaultdict(list)
        for phrase in self.phrases:
            by_instrument[phrase.instrument_id].append(f"{phrase.where}={phrase.text}")
        return {
            instrument: hashlib.sha256("\n".join(sorted(texts)).encode()).hexdigest()[:12]
            for instrument, texts in sorted(by_instrument.items())
        }

    def fingerprint(self) -> dict[str, Any]:
        """What this guard checks, for conversation keys and provenance."""
        return {
            "version": GUARD_VERSION,
            "settings": asdict(self.settings),
            "instruments": self.instrument_versions,
            "unchecked": list(self.unchecked_instruments),
        }

    def _sentence_matches(self, sentence: str) -> list[Match]:
        tokens = words(sentence)
        shared: dict[int, set[Words]] = defaultdict(set)
        for size, table in self._index.items():
            for shingle in shingles(tokens, size):
                for number in table.get(shingle, ()):
                    shared[number].add(shingle)
        found = []
        for number, common in sorted(shared.items()):
            if len(common) < self.settings.min_shared:
                continue
            phrase = self.phrases[number]
            kind = "disclosure" if self._is_disclosure(tokens, phrase, len(common)) else "verbatim"
            found.append(Match(phrase.instrument_id, phrase.where, len(common), kind, sentence))
        return found

    def _is_disclosure(self, tokens: Words, phrase: Phrase, common: int) -> bool:
        s = self.settings
        if len(tokens) > s.max_disclosure_words or not FIRST_PERSON & set(tokens):
            return False
        phrase_shingles = self._phrase_shingles(words(phrase.text))
        coverage = common / max(1, len(phrase_shingles))
        run = longest_common_run([tokens], [words(phrase.text)])
        return coverage < s.max_disclosure_coverage and run <= s.max_disclosure_run

    def check(self, text: str) -> list[Match]:
        """Every instrument phrase ``text`` touches, by sentence, each marked verbatim or disclosure."""
        return [match for sentence in sentences(text) for match in self._sentence_matches(sentence)]

    def matches(self, text: str) -> list[Match]:
        """The instrument phrases ``text`` reproduces verbatim (natural disclosures are not copies)."""
        return [m for m in self.check(text) if m.kind == "verbatim"]

    def disclosures(self, text: str) -> list[Match]:
        """Short first-person sentences that touch instrument wording naturally: kept, but flagged."""
        return [m for m in self.check(text) if m.kind == "disclosure"]

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


def guard_for_all_instruments(
    data_dir: Path | None = None, settings: GuardSettings | None = None
) -> ContaminationGuard:
    """The guard over every instrument that may be administered: all shipped definitions, with the item
    text imported under ``data_dir`` merged in."""
    from jedi_academy.instruments import list_instruments

    return guard_for_instruments(list_instruments(data_dir), settings)


def fingerprint_key(guard: ContaminationGuard) -> str:
    return hashlib.sha256(json.dumps(guard.fingerprint(), sort_keys=True).encode()).hexdigest()[:16]
