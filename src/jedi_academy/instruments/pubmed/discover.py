"""Design step 4.1: find the self-report instruments PubMed's validation studies name for a specialization.

Online: every query template of the specialization is searched (``esearch``, by relevance), the union of the
hits is fetched (``efetch``, titles, abstracts and publication types), and the instruments each article
names are extracted: the known ones by their aliases, any other by the "Full Name (ACRONYM)" pattern papers
use when they introduce an instrument. The article records are saved under the data directory, so that
``--offline`` answers from the last real search. Without one, ``--offline`` reads the cache shipped with the
package (``data/pubmed-discovery.json``), which says when and how it was made.

Instruments are ranked by the number of articles naming them (validation studies plus reviews, reviews being
the articles PubMed types as Review, Systematic Review or Meta-Analysis), and each is marked:

- ``shipped``: in the library with its item text;
- ``importable``: in the library, licence known, text to be loaded with ``academy instruments import``;
- ``unknown``: not in the library, so its licence and scoring are unknown to this project.
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.pubmed.client import EntrezClient
from jedi_academy.instruments.pubmed.queries import OTHER_DISPLAY, OTHER_INSTRUMENTS, expand_template
from jedi_academy.instruments.pubmed.records import Article, parse_efetch, parse_esearch

SHIPPED_CACHE = "pubmed-discovery.json"
FETCH_BATCH = 100  # ids per efetch request
STATUSES = ("shipped", "importable", "unknown")

# Words that end an instrument's name ("Social Phobia Inventory (SPIN)").
_HEAD = (
    r"(?:Questionnaire|Scale|Inventory|Checklist|Quotient|Screener|Test|Index|Schedule|Interview|Measure"
    r"|Survey)"
)
_WORD = r"(?:[A-Z][\w'’\-]*|for|of|and|in|on|the|to|with)"
_INTRODUCED = re.compile(
    rf"((?:{_WORD}\s+){{0,8}}{_HEAD}s?(?:[\s\-–]*(?:for\s+DSM-5|\d+))?(?:[\s\-–]+(?:Revised|II|Short\s+Form))?)"
    r"\s*\(([A-Z][A-Za-z0-9.\-– ]{1,14}?)\)"
)
_LEADING_CONNECTORS = {"for", "of", "and", "in", "on", "the", "to", "with", "The", "A", "An", "We", "This"}


@dataclass(frozen=True)
class Mention:
    name: str
    acronym: str
    instrument_id: str | None = None  # a known instrument (library or the common ones in ``queries``)

    @property
    def key(self) -> str:
        return self.instrument_id or "?" + _normal(self.acronym)


@dataclass(frozen=True)
class Record:
    """One article as discovery keeps it: what ranking needs, no abstract."""

    pmid: str
    year: int | None
    review: bool
    mentions: tuple[Mention, ...]
    title: str = ""
    citation: str = ""
    confirmed: bool = True

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"pmid": self.pmid, "year": self.year, "review": self.review}
        data["title" if self.title else "citation"] = self.title or self.citation
        if not self.confirmed:
            data["confirmed"] = False
        data["instruments"] = [{"name": m.name, "acronym": m.acronym} for m in self.mentions]
        return data


@dataclass
class Found:
    name: str
    acronym: str
    instrument_id: str | None
    status: str
    pmids: list[str] = field(default_factory=list)
    reviews: int = 0
    licence: str | None = None
    imported: bool = False

    @property
    def studies(self) -> int:
        return len(self.pmids)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "acronym": self.acronym,
            "studies": self.studies,
            "pmids": self.pmids,
            "status": self.status,
            "id": self.instrument_id,
            "validation_studies": self.studies - self.reviews,
            "reviews": self.reviews,
            "licence": self.licence,
            "imported": self.imported,
        }


@dataclass
class Discovery:
    specialization: str
    source: str  # "pubmed", "data directory cache" or "shipped cache"
    made: str  # when the search (or the shipped cache) was made
    queries: list[str]
    records: list[Record]
    instruments: list[Found]
    advice: str | None = None
    how_made: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "specialization": self.specialization,
            "source": self.source,
            "made": self.made,
            "how_made": self.how_made,
            "queries": self.queries,
            "articles": len(self.records),
            "advice": self.advice,
            "instruments": [found.as_dict() for found in self.instruments],
        }


def _normal(acronym: str) -> str:
    return re.sub(r"[\s\-–.]", "", acronym).upper()


@functools.cache
def _known_display() -> dict[str, tuple[str, str]]:
    from jedi_academy.instruments.loading import instrument_ids, packaged_definition

    display = {i: (packaged_definition(i).name, packaged_definition(i).short_name) for i in instrument_ids()}
    return {**display, **OTHER_DISPLAY}


@functools.cache
def _acronym_index() -> dict[str, str]:
    """Normalised acronyms and aliases of every known instrument -> its id."""
    from jedi_academy.instruments.loading import instrument_ids, packaged_definition

    index: dict[str, str] = {}
    for instrument_id in instrument_ids():
        definition = packaged_definition(instrument_id)
        for alias in (definition.short_name, *definition.aliases):
            index.setdefault(_normal(alias), instrument_id)
    for instrument_id, aliases in OTHER_INSTRUMENTS.items():
        for alias in (*aliases, OTHER_DISPLAY[instrument_id][1]):
            index.setdefault(_normal(alias), instrument_id)
    return index


def _trim_name(name: str, acronym: str) -> str:
    words = name.split()
    while words and words[0] in _LEADING_CONNECTORS:
        words.pop(0)
    # start the name at the word whose initial opens the acronym ("depression using the Beck ... (BDI)")
    for start, word in enumerate(words):
        if word[:1].upper() == acronym[:1].upper():
            return " ".join(words[start:])
    return " ".join(words)


def mentions_in(text: str) -> list[Mention]:
    """The instruments ``text`` names: known ones by alias, others where the text introduces them."""
    from jedi_academy.instruments.pubmed.queries import instruments_named

    display = _known_display()
    found = {i: Mention(*display[i], i) for i in instruments_named(text)}
    for match in _INTRODUCED.finditer(text):
        acronym = match.group(2).strip()
        if sum(ch.isupper() for ch in acronym) < 2:
            continue  # "(n", "(Study)": not an acronym
        named = instruments_named(match.group(1))  # "Autism-Spectrum Quotient (AQ)": known by its name
        known = _acronym_index().get(_normal(acronym)) or (named[0] if named else None)
        if known is not None:
            found.setdefault(known, Mention(*display[known], known))
            continue
        name = _trim_name(match.group(1), acronym)
        if name:
            found.setdefault("?" + _normal(acronym), Mention(name, acronym))
    return list(found.values())


def _status(instrument_id: str | None, data_dir: Path | None) -> tuple[str, str | None, bool]:
    from jedi_academy.instruments.api import load_instrument
    from jedi_academy.instruments.loading import instrument_ids

    if instrument_id is None or instrument_id not in instrument_ids():
        return "unknown", None, False
    shipped = load_instrument(instrument_id)
    if shipped.text_available:
        return "shipped", shipped.licence.summary, False
    imported = data_dir is not None and load_instrument(instrument_id, data_dir).text_available
    return "importable", shipped.licence.summary, imported


def rank(records: Iterable[Record], data_dir: Path | None = None) -> list[Found]:
    """Instruments by the number of articles naming them, then reviews, then acronym."""
    table: dict[str, Found] = {}
    for record in records:
        for mention in record.mentions:
            found = table.get(mention.key)
            if found is None:
                status, licence, imported = _status(mention.instrument_id, data_dir)
                found = Found(mention.name, mention.acronym, mention.instrument_id, status)
                found.licence, found.imported = licence, imported
                table[mention.key] = found
            if record.pmid not in found.pmids:
                found.pmids.append(record.pmid)
                found.reviews += int(record.review)
    return sorted(table.values(), key=lambda f: (-f.studies, -f.reviews, f.acronym.lower()))


def advice(
    specialization: str, configured: Iterable[str], ranked: list[Found], data_dir: Path | None
) -> str | None:
    """For a specialization without a shipped instrument: which discovered instrument to import, and how."""
    configured = list(configured)
    statuses = {i: _status(i, data_dir) for i in configured}
    if any(status == "shipped" for status, _, _ in statuses.values()):
        return None
    if any(imported for _, _, imported in statuses.values()):
        ready = next(i for i in configured if statuses[i][2])
        return f"{specialization} has no shipped instrument; the item text of {ready} is imported here: ready"
    candidates = [f for f in ranked if f.status == "importable"]
    # the specialization's own instruments first, then the best-ranked importable one
    candidates.sort(key=lambda f: f.instrument_id not in configured)
    if candidates:
        best = candidates[0]
        return (
            f"{specialization} has no shipped instrument: import {best.instrument_id} ({best.name}; "
            f"{best.studies} article(s); licence: {best.licence}) with "
            f"`academy instruments import {best.instrument_id} --items FILE` (FILE: the item text you are "
            "licensed to use, see docs/instruments.md)"
        )
    top = f" (most named: {ranked[0].acronym})" if ranked else ""
    if not configured:
        return f"{specialization} has no shipped instrument and no discovered one is in the library{top}"
    return (
        f"{specialization} has no shipped instrument and no discovered one is in the library{top}; "
        f"the library's instrument for it is {configured[0]}: import its item text with "
        f"`academy instruments import {configured[0]} --items FILE`"
    )


# ---------------------------------------------------------------- searching and caching


def search(
    specialization: str,
    condition: str,
    templates: Iterable[str],
    client: EntrezClient,
    *,
    per_query: int = 50,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[str], list[Record]]:
    """Run the specialization's queries; returns the expanded queries and one record per article found."""
    say = progress or (lambda _message: None)
    queries = [expand_template(template, condition) for template in templates]
    pmids: list[str] = []
    for number, query in enumerate(queries, start=1):
        say(f"PubMed: searching ({number}/{len(queries)}) for {specialization}")
        params = {"db": "pubmed", "term": query, "retmax": str(per_query), "sort": "relevance"}
        content, cached = client.fetch("esearch", params)
        page = parse_esearch(content)
        if not cached:
            client.remember("esearch", params, content)
        pmids += [pmid for pmid in page.ids if pmid not in pmids]
    articles: list[Article] = []
    for start in range(0, len(pmids), FETCH_BATCH):
        batch = pmids[start : start + FETCH_BATCH]
        say(f"PubMed: fetching abstracts {start + 1}-{start + len(batch)} of {len(pmids)}")
        params = {"db": "pubmed", "id": ",".join(batch), "rettype": "abstract", "retmode": "xml"}
        content, cached = client.fetch("efetch", params)
        articles += parse_efetch(content)
        if not cached:
            client.remember("efetch", params, content)
    texts = {a.pmid: f"{a.title} {a.abstract}" for a in articles}
    mentions = {pmid: mentions_in(text) for pmid, text in texts.items()}
    _add_bare_acronyms(texts, mentions)
    records = [Record(a.pmid, a.year, a.is_review, tuple(mentions[a.pmid]), title=a.title) for a in articles]
    return queries, records


def _add_bare_acronyms(texts: dict[str, str], mentions: dict[str, list[Mention]]) -> None:
    """An instrument introduced by name in one article counts in another that names it by acronym alone."""
    introduced = {m.key: m for found in mentions.values() for m in found if m.instrument_id is None}
    for key, mention in introduced.items():
        pattern = re.compile(rf"(?<![A-Za-z0-9]){re.escape(mention.acronym)}(?![A-Za-z0-9])")
        for pmid, text in texts.items():
            if all(m.key != key for m in mentions[pmid]) and pattern.search(text):
                mentions[pmid].append(mention)


def saved_path(cache_dir: Path, specialization: str) -> Path:
    return cache_dir / "discover" / f"{specialization}.json"


def save(cache_dir: Path, specialization: str, queries: list[str], records: list[Record], made: str) -> Path:
    """Atomically write the records of a real search (0600: it is this instance's working data)."""
    path = saved_path(cache_dir, specialization)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": 1, "made": made, "queries": queries, "articles": [r.as_dict() for r in records]}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(body, stream, indent=1, ensure_ascii=False)
    os.replace(temporary, path)
    return path


def _records(rows: list[dict[str, Any]], where: str) -> list[Record]:
    try:
        return [
            Record(
                pmid=str(row["pmid"]),
                year=row.get("year"),
                review=bool(row.get("review", False)),
                mentions=tuple(_mention(m) for m in row.get("instruments", [])),
                title=str(row.get("title", "")),
                citation=str(row.get("citation", "")),
                confirmed=bool(row.get("confirmed", True)),
            )
            for row in rows
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        message = f"{where}: malformed discovery record ({exc})"
        raise AcademyError(message, "delete it and search again") from None


def _mention(row: dict[str, Any]) -> Mention:
    name, acronym = str(row["name"]), str(row["acronym"])
    return Mention(name, acronym, _acronym_index().get(_normal(acronym)))


def load_saved(cache_dir: Path, specialization: str) -> tuple[str, list[str], list[Record]] | None:
    path = saved_path(cache_dir, specialization)
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        return str(body["made"]), list(body["queries"]), _records(body["articles"], str(path))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        message = f"{path}: unreadable discovery cache ({exc})"
        raise AcademyError(message, "delete it and search again") from None


@functools.cache
def shipped_cache() -> dict[str, Any]:
    entry = resources.files("jedi_academy.instruments").joinpath("data", SHIPPED_CACHE)
    return json.loads(entry.read_text(encoding="utf-8"))


def load_shipped(specialization: str) -> tuple[str, str, list[Record]] | None:
    cache = shipped_cache()
    rows = cache["specializations"].get(specialization)
    if rows is None:
        return None
    return str(cache["created"]), str(cache["summary"]), _records(rows, f"shipped {SHIPPED_CACHE}")


def discover(
    specialization: str,
    *,
    condition: str | None,
    templates: Iterable[str],
    configured: Iterable[str],
    client: EntrezClient,
    data_dir: Path | None,
    offline: bool,
    per_query: int = 50,
    progress: Callable[[str], None] | None = None,
) -> Discovery:
    """Discover (online) or recall (offline) the instruments for ``specialization``, ranked and marked."""
    configured = list(configured)
    cache_dir = client.config.cache_dir
    if offline:
        saved = load_saved(cache_dir, specialization)
        if saved is not None:
            made, queries, records = saved
            source, how = "data directory cache", f"saved from a PubMed search made {made}"
        else:
            shipped = load_shipped(specialization)
            if shipped is None:
                raise AcademyError(
                    f"offline and no discovery cache for {specialization}",
                    f"run `academy instruments discover -s {specialization}` once with network access",
                )
            made, how, records = shipped
            queries, source = [], "shipped cache"
    else:
        if condition is None:
            raise AcademyError(
                f"specialization {specialization} has no PubMed queries",
                "add a `pubmed:` section (condition, queries) to its YAML (see docs/instruments.md)",
            )
        queries, records = search(
            specialization, condition, templates, client, per_query=per_query, progress=progress
        )
        made = datetime.now(UTC).isoformat(timespec="seconds")
        save(cache_dir, specialization, queries, records, made)
        source, how = "pubmed", None
    ranked = rank(records, data_dir)
    hint = advice(specialization, configured, ranked, data_dir)
    return Discovery(specialization, source, made, queries, records, ranked, hint, how)
