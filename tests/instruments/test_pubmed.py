"""PubMed search through the project's httpx E-utilities client against a loopback server replaying recorded
E-utilities replies, and from the offline cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.pubmed import (
    SPECIALIZATION_MESH,
    EntrezClient,
    EntrezConfig,
    build_query,
    instruments_named,
    search_pubmed,
)
from jedi_academy.instruments.pubmed.records import parse_efetch

FIXTURES = Path(__file__).parent / "fixtures"

EMAIL = "tester@example.org"


def client(tmp_path: Path, eutils, **overrides) -> EntrezClient:
    settings = dict(
        cache_dir=tmp_path / "cache",
        email=EMAIL,
        api_key="test-key",
        base_url=eutils.base_url,
        max_tries=2,
        retry_sleep_s=0.05,
        timeout_s=5,
    )
    settings.update(overrides)
    return EntrezClient(EntrezConfig(**settings))


def serve_depression(eutils) -> None:
    eutils.serve("esearch.fcgi", "esearch_depression.xml")
    eutils.serve("efetch.fcgi", "efetch_depression.xml")


# ---------------------------------------------------------------- queries and instrument spotting


@pytest.mark.parametrize(
    ("specialization", "mesh", "named"),
    [
        ("depression", '"Depressive Disorder"[MeSH]', '"PHQ-9"[tiab]'),
        ("anxiety", '"Anxiety Disorders"[MeSH]', '"GAD-7"[tiab]'),
        ("ptsd", '"Stress Disorders, Post-Traumatic"[MeSH]', '"PCL-5"[tiab]'),
        ("adhd", '"Attention Deficit Disorder with Hyperactivity"[MeSH]', '"ASRS v1.1 Part A"[tiab]'),
        ("autism", '"Autism Spectrum Disorder"[MeSH]', '"AQ-10"[tiab]'),
        ("narcissism", '"Narcissism"[MeSH]', '"NPI-16"[tiab]'),
    ],
)
def test_specialization_queries_are_mesh_based_validation_searches(specialization, mesh, named):
    query = build_query(specialization)
    assert mesh in query and named in query
    assert '"Validation Study"[pt]' in query and '"Sensitivity and Specificity"[MeSH]' in query
    assert query.endswith("AND humans[MeSH]")
    assert query.count("(") == query.count(")")


def test_every_specialization_has_a_query_and_unknown_ones_are_refused():
    assert sorted(SPECIALIZATION_MESH) == ["adhd", "anxiety", "autism", "depression", "narcissism", "ptsd"]
    with pytest.raises(AcademyError, match="no PubMed query for specialization 'gout'"):
        build_query("gout")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Validity of the PHQ-9 and the PHQ-2 in primary care", ["phq-9", "phq-2"]),
        ("PHQ9 versus PHQ-15", ["phq-9"]),
        ("The GAD7 and the Generalized Anxiety Disorder-7 scale", ["gad-7"]),
        ("Short Autism Spectrum Quotient (AQ-10) against the Autism Spectrum Quotient", ["aq-10", "aq-50"]),
        ("Autism Spectrum Quotient-10 only", ["aq-10"]),
        ("PTSD Checklist for DSM-5 (PCL-5) and CAPS-5", ["pcl-5", "caps-5"]),
        ("NPI-16 and the Narcissistic Personality Inventory", ["npi-16", "npi-40"]),
        ("the ASRS-v1.1 screener", ["asrs-v1.1-a"]),
        ("The PCL-50 and the AQ-100 are not instruments", []),
    ],
)
def test_instruments_named(text, expected):
    assert instruments_named(text) == expected


def test_efetch_parsing_reads_medline_dates_and_doi_fallbacks():
    content = (FIXTURES / "efetch_medline_date.xml").read_bytes()
    (article,) = parse_efetch(content)
    assert (article.year, article.journal, article.doi, article.abstract) == (
        2015,
        "Test J",
        "10.1000/test.1",
        "",
    )


# ---------------------------------------------------------------- searching the loopback server


def test_search_returns_articles_in_relevance_order_with_named_instruments(tmp_path, eutils):
    serve_depression(eutils)
    result = search_pubmed(build_query("depression"), client(tmp_path, eutils), max_results=2)
    assert (result.count, result.from_cache) == (1523, False)
    first, second = result.articles
    assert (first.pmid, first.year, first.journal, first.doi) == (
        "11556941",
        2001,
        "Journal of general internal medicine",
        "10.1046/j.1525-1497.2001.016009606.x",
    )
    assert first.title == "The PHQ-9: validity of a brief depression severity measure."
    assert first.instruments == ["phq-9"]
    assert (second.pmid, second.year, second.doi, second.instruments) == (
        "14583691",
        2003,
        None,
        ["phq-9", "phq-2"],
    )


def test_requests_carry_tool_email_key_and_the_query(tmp_path, eutils):
    serve_depression(eutils)
    search_pubmed(build_query("depression"), client(tmp_path, eutils), max_results=2)
    (search,) = eutils.calls("esearch.fcgi")
    assert search.params["db"] == "pubmed" and search.params["retmax"] == "2"
    assert search.params["sort"] == "relevance"
    assert '"Depression"[MeSH]' in search.params["term"]
    assert (search.params["tool"], search.params["email"], search.params["api_key"]) == (
        "jedi-academy",
        EMAIL,
        "test-key",
    )
    (fetch,) = eutils.calls("efetch.fcgi")
    assert fetch.params["id"] == "11556941,14583691"
    assert (fetch.params["rettype"], fetch.params["retmode"], fetch.params["email"]) == (
        "abstract",
        "xml",
        EMAIL,
    )


def test_answers_are_cached_and_served_offline(tmp_path, eutils):
    serve_depression(eutils)
    online = search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils), max_results=2)
    assert len(list((tmp_path / "cache").rglob("*.xml"))) == 2
    meta = json.loads(next((tmp_path / "cache" / "esearch").glob("*.json")).read_text())
    assert meta["params"]["term"] == "PHQ-9[tiab]" and "email" not in meta["params"]

    eutils.replies.clear()  # the server now answers 404 to everything
    offline_client = client(tmp_path, eutils, offline=True)
    offline = search_pubmed("PHQ-9[tiab]", offline_client, max_results=2)
    assert offline.from_cache and offline_client.network_calls == 0
    assert offline.articles == online.articles and offline.count == online.count
    assert len(eutils.seen) == 2


def test_cache_hit_needs_no_email_and_no_network(tmp_path, eutils):
    serve_depression(eutils)
    search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils), max_results=2)
    again = client(tmp_path, eutils, email=None)
    assert search_pubmed("PHQ-9[tiab]", again, max_results=2).from_cache
    assert again.network_calls == 0 and len(eutils.seen) == 2


def test_offline_without_a_cached_answer_fails_clearly(tmp_path, eutils):
    with pytest.raises(AcademyError, match="not in the cache"):
        search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils, offline=True), max_results=2)
    assert eutils.seen == []


def test_refresh_goes_back_to_the_network(tmp_path, eutils):
    serve_depression(eutils)
    search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils), max_results=2)
    refreshed = search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils, refresh=True), max_results=2)
    assert not refreshed.from_cache and len(eutils.seen) == 4


def test_empty_search_skips_efetch(tmp_path, eutils):
    eutils.serve("esearch.fcgi", "esearch_empty.xml")
    result = search_pubmed("xyzzyplugh", client(tmp_path, eutils))
    assert (result.count, result.articles) == (0, [])
    assert eutils.calls("efetch.fcgi") == []


def test_ncbi_error_reply_is_reported_and_not_cached(tmp_path, eutils):
    eutils.serve("esearch.fcgi", "esearch_error.xml")
    with pytest.raises(AcademyError, match="Empty term and query_key"):
        search_pubmed("anything", client(tmp_path, eutils))
    assert not list((tmp_path / "cache").rglob("*.xml"))


def test_too_many_requests_is_retried(tmp_path, eutils):
    eutils.serve("esearch.fcgi", (429, b"Too Many Requests"), "esearch_depression.xml")
    eutils.serve("efetch.fcgi", "efetch_depression.xml")
    result = search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils), max_results=2)
    assert len(result.articles) == 2 and len(eutils.calls("esearch.fcgi")) == 2


def test_server_errors_become_one_clear_error(tmp_path, eutils):
    eutils.serve("esearch.fcgi", (500, b"Internal error"))
    with pytest.raises(AcademyError, match="HTTP 500"):
        search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils))
    assert len(eutils.calls("esearch.fcgi")) == 2  # max_tries


def test_unreachable_server(tmp_path):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = EntrezConfig(cache_dir=tmp_path, email=EMAIL, base_url=f"http://127.0.0.1:{port}/", max_tries=1)
    with pytest.raises(AcademyError, match="cannot reach PubMed"):
        search_pubmed("PHQ-9[tiab]", EntrezClient(config))


def test_email_is_required_for_network_requests(tmp_path, eutils):
    with pytest.raises(AcademyError, match="contact email") as caught:
        search_pubmed("PHQ-9[tiab]", client(tmp_path, eutils, email=None))
    assert "ACADEMY_NCBI_EMAIL" in (caught.value.hint or "")
    assert eutils.seen == []


def test_bad_max(tmp_path, eutils):
    with pytest.raises(AcademyError, match="--max must lie between 1 and 200"):
        search_pubmed("x", client(tmp_path, eutils), max_results=0)


def test_requests_are_spaced_for_the_rate_limit(tmp_path, eutils, monkeypatch):
    # The client spaces the starts of its calls >= 1/3 s apart without an API key and >= 0.1 s with one. The
    # starts are read from the throttle itself (when each call was let through), not from when the test
    # server saw the request: a first request's connection set-up delays its arrival, never its start.
    from jedi_academy.instruments.pubmed import client as client_module

    throttle, starts = client_module._THROTTLE, []
    original = throttle.wait

    def recording(interval_s: float) -> None:
        original(interval_s)
        starts.append(throttle._last)

    monkeypatch.setattr(throttle, "wait", recording)
    serve_depression(eutils)
    search_pubmed("PHQ-9[tiab]", client(tmp_path / "a", eutils, api_key=None), max_results=2)
    assert len(starts) == 2 and starts[1] - starts[0] >= 1 / 3
    assert "api_key" not in eutils.seen[0].params
    search_pubmed("GAD-7[tiab]", client(tmp_path / "b", eutils), max_results=2)
    assert len(starts) == 4 and starts[3] - starts[2] >= 0.1
    assert eutils.seen[2].params.get("api_key") == "test-key"


# ---------------------------------------------------------------- the command


def test_pubmed_command_online_then_offline(academy, eutils):
    serve_depression(eutils)
    args = ["instruments", "pubmed", "depression", "--max", "2", "--eutils-url", eutils.base_url]
    result = academy(*args, "--email", EMAIL, "--json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert [a["pmid"] for a in data["articles"]] == ["11556941", "14583691"]
    assert data["articles"][1]["instruments"] == ["phq-9", "phq-2"]
    assert set(data["articles"][0]) == {"pmid", "title", "journal", "year", "doi", "instruments"}
    assert (academy.data_dir / "cache" / "pubmed" / "esearch").is_dir()

    eutils.replies.clear()
    offline = academy(*args, "--offline")
    assert offline.code == 0, offline.err
    assert "1523 hit(s); showing 2 from cache" in offline.out
    assert "14583691  2003  Medical care: The Patient Health Questionnaire-2" in offline.out


def test_pubmed_command_with_query_and_environment_email(academy, eutils, monkeypatch):
    serve_depression(eutils)
    monkeypatch.setenv("ACADEMY_NCBI_EMAIL", "env@example.org")
    monkeypatch.setenv("ACADEMY_EUTILS_URL", eutils.base_url)
    result = academy("instruments", "pubmed", "--query", "PHQ-9[tiab] AND validation", "--max", "2")
    assert result.code == 0, result.err
    assert eutils.seen[0].params["term"] == "PHQ-9[tiab] AND validation"
    assert eutils.seen[0].params["email"] == "env@example.org"


def test_pubmed_command_needs_exactly_one_of_specialization_and_query(academy):
    assert "give a specialization or --query" in academy("instruments", "pubmed").err
    both = academy("instruments", "pubmed", "ptsd", "--query", "x")
    assert both.code == 2 and "give a specialization or --query" in both.err and "Usage:" in both.err
