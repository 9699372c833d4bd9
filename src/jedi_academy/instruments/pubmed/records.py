"""Parsing E-utilities XML (via ``Bio.Entrez.read``) into plain records."""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from jedi_academy.errors import AcademyError


@dataclass(frozen=True)
class Article:
    pmid: str
    title: str
    journal: str
    year: int | None
    doi: str | None = None
    instruments: list[str] = field(default_factory=list)  # known instruments named in title or abstract
    abstract: str = ""

    def as_dict(self, with_abstract: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_abstract:
            data.pop("abstract")
        return data


@dataclass(frozen=True)
class SearchPage:
    count: int
    ids: list[str]
    query_translation: str | None


def _read(content: bytes, what: str) -> Any:
    from Bio import Entrez

    try:
        return Entrez.read(io.BytesIO(content))
    except RuntimeError as exc:  # Bio.Entrez raises this for an <ERROR> element in the reply
        raise AcademyError(f"PubMed {what} failed: {exc}", "check the query syntax") from None
    except Exception as exc:  # malformed XML, unexpected DTD, ...
        raise AcademyError(f"cannot read the PubMed {what} reply: {exc}") from None


def parse_esearch(content: bytes) -> SearchPage:
    record = _read(content, "search")
    return SearchPage(
        count=int(record.get("Count", 0)),
        ids=[str(pmid) for pmid in record.get("IdList", [])],
        query_translation=str(record["QueryTranslation"]) if record.get("QueryTranslation") else None,
    )


def _year(journal_issue: Any) -> int | None:
    date = journal_issue.get("PubDate", {})
    text = str(date.get("Year") or date.get("MedlineDate") or "")
    match = re.search(r"\b(1[89]|20)\d\d\b", text)
    return int(match.group(0)) if match else None


def _doi(article: Any) -> str | None:
    for identifier in article.get("PubmedData", {}).get("ArticleIdList", []):
        if getattr(identifier, "attributes", {}).get("IdType") == "doi":
            return str(identifier)
    for location in article["MedlineCitation"]["Article"].get("ELocationID", []):
        if getattr(location, "attributes", {}).get("EIdType") == "doi":
            return str(location)
    return None


def parse_efetch(content: bytes) -> list[Article]:
    """Articles of a ``db=pubmed`` efetch reply (``retmode=xml``); instruments are filled in later."""
    record = _read(content, "fetch")
    articles = []
    for entry in record.get("PubmedArticle", []):
        citation = entry["MedlineCitation"]
        article = citation["Article"]
        journal = article.get("Journal", {})
        abstract = " ".join(str(part) for part in article.get("Abstract", {}).get("AbstractText", []))
        articles.append(
            Article(
                pmid=str(citation["PMID"]),
                title=str(article.get("ArticleTitle", "")),
                journal=str(journal.get("Title") or journal.get("ISOAbbreviation") or ""),
                year=_year(journal.get("JournalIssue", {})),
                doi=_doi(entry),
                abstract=abstract,
            )
        )
    return articles
