"""Parsing E-utilities XML replies into plain records, with the standard library's XML parser.

The replies carry a DOCTYPE naming NCBI's DTDs; ElementTree does not fetch or expand external DTDs, so
parsing never touches the network. Inline markup inside titles and abstracts (``<i>``, ``<sup>``) is kept
as its text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from typing import Any

from jedi_academy.errors import AcademyError

# Publication types that make an article a review rather than a study of its own data.
REVIEW_TYPES = frozenset({"Review", "Systematic Review", "Meta-Analysis", "Scoping Review"})


@dataclass(frozen=True)
class Article:
    pmid: str
    title: str
    journal: str
    year: int | None
    doi: str | None = None
    instruments: list[str] = field(default_factory=list)  # known instruments named in title or abstract
    abstract: str = ""
    publication_types: tuple[str, ...] = ()

    @property
    def is_review(self) -> bool:
        return bool(REVIEW_TYPES.intersection(self.publication_types))

    def as_dict(self, with_abstract: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data.pop("publication_types")
        if not with_abstract:
            data.pop("abstract")
        return data


@dataclass(frozen=True)
class SearchPage:
    count: int
    ids: list[str]
    query_translation: str | None


def _root(content: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(content)
    except ET.ParseError as exc:
        raise AcademyError(f"cannot read the PubMed {what} reply: {exc}") from None


def _text(element: ET.Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def parse_esearch(content: bytes) -> SearchPage:
    root = _root(content, "search")
    error = root.find("ERROR")
    if error is not None:  # NCBI answers a bad term with HTTP 200 and an <ERROR> element
        raise AcademyError(f"PubMed search failed: {_text(error)}", "check the query syntax")
    if root.tag != "eSearchResult":
        raise AcademyError(f"cannot read the PubMed search reply: unexpected <{root.tag}>")
    translation = _text(root.find("QueryTranslation"))
    try:
        count = int(_text(root.find("Count")) or 0)
    except ValueError:
        raise AcademyError("cannot read the PubMed search reply: Count is not a number") from None
    return SearchPage(
        count=count,
        ids=[_text(pmid) for pmid in root.findall("IdList/Id")],
        query_translation=translation or None,
    )


def _year(issue: ET.Element | None) -> int | None:
    if issue is None:
        return None
    text = _text(issue.find("PubDate/Year")) or _text(issue.find("PubDate/MedlineDate"))
    match = re.search(r"\b(1[89]|20)\d\d\b", text)
    return int(match.group(0)) if match else None


def _doi(entry: ET.Element) -> str | None:
    for identifier in entry.findall("PubmedData/ArticleIdList/ArticleId"):
        if identifier.get("IdType") == "doi":
            return _text(identifier)
    for location in entry.findall("MedlineCitation/Article/ELocationID"):
        if location.get("EIdType") == "doi":
            return _text(location)
    return None


def parse_efetch(content: bytes) -> list[Article]:
    """Articles of a ``db=pubmed`` efetch reply (``retmode=xml``); instruments are filled in later."""
    root = _root(content, "fetch")
    error = root.find("ERROR")
    if error is not None:
        raise AcademyError(f"PubMed fetch failed: {_text(error)}")
    articles = []
    for entry in root.findall("PubmedArticle"):
        citation = entry.find("MedlineCitation")
        article = citation.find("Article") if citation is not None else None
        if citation is None or article is None:
            continue
        journal = article.find("Journal")
        journal_title = ""
        if journal is not None:
            journal_title = _text(journal.find("Title")) or _text(journal.find("ISOAbbreviation"))
        articles.append(
            Article(
                pmid=_text(citation.find("PMID")),
                title=_text(article.find("ArticleTitle")),
                journal=journal_title,
                year=_year(journal.find("JournalIssue") if journal is not None else None),
                doi=_doi(entry),
                abstract=" ".join(_text(part) for part in article.findall("Abstract/AbstractText")),
                publication_types=tuple(
                    _text(kind) for kind in article.findall("PublicationTypeList/PublicationType")
                ),
            )
        )
    return articles
