"""PubMed look-up of validation studies for screening instruments (NCBI E-utilities over httpx)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.pubmed.client import EntrezClient, EntrezConfig, entrez_config
from jedi_academy.instruments.pubmed.queries import SPECIALIZATION_MESH, build_query, instruments_named
from jedi_academy.instruments.pubmed.records import Article, parse_efetch, parse_esearch

MAX_RESULTS = 200

__all__ = [
    "SPECIALIZATION_MESH",
    "Article",
    "EntrezClient",
    "EntrezConfig",
    "PubMedResult",
    "build_query",
    "entrez_config",
    "instruments_named",
    "search_pubmed",
]


@dataclass(frozen=True)
class PubMedResult:
    query: str
    count: int  # all hits PubMed reports, of which ``articles`` are the first ``max_results``
    articles: list[Article] = field(default_factory=list)
    from_cache: bool = False  # every response came from the cache

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "count": self.count,
            "from_cache": self.from_cache,
            "articles": [article.as_dict() for article in self.articles],
        }


def search_pubmed(query: str, client: EntrezClient, max_results: int = 10) -> PubMedResult:
    """esearch (by relevance), then efetch of the abstracts; articles list the known instruments they name."""
    if not 1 <= max_results <= MAX_RESULTS:
        raise AcademyError(f"--max must lie between 1 and {MAX_RESULTS}, got {max_results}")
    if not query.strip():
        raise AcademyError("the PubMed query is empty")
    search_params = {"db": "pubmed", "term": query, "retmax": str(max_results), "sort": "relevance"}
    content, search_cached = client.fetch("esearch", search_params)
    page = parse_esearch(content)
    if not search_cached:
        client.remember("esearch", search_params, content)
    if not page.ids:
        return PubMedResult(query, page.count, [], search_cached)

    fetch_params = {"db": "pubmed", "id": ",".join(page.ids), "rettype": "abstract", "retmode": "xml"}
    content, fetch_cached = client.fetch("efetch", fetch_params)
    by_pmid = {article.pmid: article for article in parse_efetch(content)}
    if not fetch_cached:
        client.remember("efetch", fetch_params, content)
    articles = [
        replace(article, instruments=instruments_named(f"{article.title} {article.abstract}"))
        for pmid in page.ids
        if (article := by_pmid.get(pmid)) is not None
    ]
    return PubMedResult(query, page.count, articles, search_cached and fetch_cached)
