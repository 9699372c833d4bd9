"""``academy instruments discover``: PubMed searches from the specialization's query templates against a
loopback server speaking the E-utilities wire format, extraction and ranking of the instruments named, the
data-directory cache of a real search, and the shipped offline cache."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.pubmed import EntrezClient, EntrezConfig
from jedi_academy.instruments.pubmed.discover import mentions_in, shipped_cache
from jedi_academy.instruments.pubmed.records import parse_efetch

EMAIL = "tester@example.org"
SHIPPED_SPECIALIZATIONS = ["adhd", "anxiety", "autism", "depression", "narcissism", "ptsd"]


def serve_discovery(eutils) -> None:
    eutils.serve("esearch.fcgi", "esearch_discover_validation.xml", "esearch_discover_reviews.xml")
    eutils.serve("efetch.fcgi", "efetch_discover.xml")


def discover_json(academy, *args: str) -> list[dict]:
    result = academy("instruments", "discover", *args, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


# ---------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "We used the Center for Epidemiologic Studies Depression Scale (CES-D) in 40 (N=40) adults.",
            [("Center for Epidemiologic Studies Depression Scale", "CES-D", None)],
        ),
        (
            "The Posttraumatic Stress Disorder Checklist for DSM-5 (PCL-5): development",
            [("PTSD Checklist for DSM-5", "PCL-5", "pcl-5")],
        ),
        (
            "Psychometric properties of the Social Phobia Inventory (SPIN).",
            [("Social Phobia Inventory", "SPIN", None)],
        ),
        ("the Autism-Spectrum Quotient (AQ) in adults", [("Autism Spectrum Quotient", "AQ-50", "aq-50")]),
        ("a severity Scale (n) with no acronym", []),
    ],
)
def test_instruments_are_extracted_by_alias_and_where_introduced(text, expected):
    assert [(m.name, m.acronym, m.instrument_id) for m in mentions_in(text)] == expected


def test_efetch_records_keep_inline_markup_text_and_publication_types():
    content = (Path(__file__).parent / "fixtures" / "efetch_discover.xml").read_bytes()
    articles = {a.pmid: a for a in parse_efetch(content)}
    made_up = articles["900000001"]
    assert "Center for Epidemiologic Studies Depression Scale (CES-D)" in made_up.title
    assert not made_up.is_review and articles["900000002"].is_review
    assert articles["11556941"].publication_types == ("Journal Article", "Validation Study")


# ---------------------------------------------------------------- online, then offline from the saved search


def test_discover_searches_every_template_ranks_and_marks_then_answers_offline(academy, eutils):
    serve_discovery(eutils)
    found = discover_json(
        academy, "-s", "depression", "--eutils-url", eutils.base_url, "--email", EMAIL, "--max", "5"
    )
    searches = eutils.calls("esearch.fcgi")
    assert len(searches) == 2  # the two templates of depression.yaml
    for search in searches:
        term = search.params["term"]
        assert '"Depression"[MeSH] OR "Depressive Disorder"[MeSH]' in term and "{" not in term
        identity = (search.params["retmax"], search.params["email"], search.params["tool"])
        assert identity == ("5", EMAIL, "jedi-academy")
    assert '"Validation Study"[pt]' in searches[0].params["term"]
    assert '"Systematic Review"[pt]' in searches[1].params["term"]
    (fetch,) = eutils.calls("efetch.fcgi")
    assert fetch.params["id"] == "11556941,14583691,900000001,900000002"  # the union, in first-seen order

    by_acronym = {f["acronym"]: f for f in found}
    assert [f["acronym"] for f in found] == ["PHQ-9", "CES-D", "BDI-II", "PHQ-2"]
    phq9 = by_acronym["PHQ-9"]
    assert (phq9["status"], phq9["studies"], phq9["reviews"], phq9["id"]) == ("shipped", 4, 1, "phq-9")
    assert phq9["pmids"] == ["11556941", "14583691", "900000001", "900000002"]
    cesd = by_acronym["CES-D"]
    assert (cesd["name"], cesd["status"], cesd["studies"], cesd["reviews"]) == (
        "Center for Epidemiologic Studies Depression Scale",
        "unknown",
        2,
        1,
    )
    assert by_acronym["BDI-II"]["status"] == "unknown" and by_acronym["BDI-II"]["pmids"] == ["900000002"]

    saved = academy.data_dir / "cache" / "pubmed" / "discover" / "depression.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["queries"][0] == searches[0].params["term"]

    eutils.replies.clear()  # the server now answers 404: offline must not ask it
    offline = academy("instruments", "discover", "-s", "depression", "--offline")
    assert offline.code == 0, offline.err
    assert "4 article(s) from the data directory cache" in offline.out
    assert "PHQ-9" in offline.out and "CES-D" in offline.out and len(eutils.seen) == 3


def test_discover_prints_progress_for_each_request(academy, eutils):
    serve_discovery(eutils)
    args = ("-s", "depression", "--eutils-url", eutils.base_url, "--email", EMAIL)
    result = academy("instruments", "discover", *args)
    assert result.code == 0, result.err
    assert "PubMed: searching (1/2) for depression" in result.err
    assert "PubMed: searching (2/2) for depression" in result.err
    assert "PubMed: fetching abstracts 1-4 of 4" in result.err


def test_long_queries_are_posted_and_fetches_are_batched(tmp_path, eutils):
    from jedi_academy.instruments.pubmed.discover import search

    ids = "".join(f"<Id>{30000000 + n}</Id>" for n in range(150))
    eutils.replies["esearch.fcgi"] = [
        (200, f"<eSearchResult><Count>150</Count><IdList>{ids}</IdList></eSearchResult>".encode())
    ]
    eutils.serve("efetch.fcgi", "efetch_discover.xml")
    config = EntrezConfig(cache_dir=tmp_path, email=EMAIL, base_url=eutils.base_url, retry_sleep_s=0.01)
    condition = " OR ".join(f'"Term number {n}"[MeSH]' for n in range(100))  # > 2000 characters
    search("depression", condition, ["({condition})"], EntrezClient(config), per_query=150)
    (esearch,) = eutils.calls("esearch.fcgi")
    assert esearch.method == "POST" and esearch.params["term"] == f"({condition})"
    fetches = eutils.calls("efetch.fcgi")
    assert [f.params["id"].count(",") + 1 for f in fetches] == [100, 50]
    assert all(f.method == "GET" for f in fetches)


def test_unreachable_pubmed_points_at_offline(academy):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = academy(
        "instruments", "discover", "-s", "ptsd", "--eutils-url", f"http://127.0.0.1:{port}/", "--email", EMAIL
    )
    assert result.code == 1 and "cannot reach PubMed" in result.err and "--offline" in result.err


def test_online_needs_an_email(academy, eutils):
    result = academy("instruments", "discover", "-s", "ptsd", "--eutils-url", eutils.base_url)
    assert result.code == 1 and "contact email" in result.err and eutils.seen == []


# ---------------------------------------------------------------- the shipped cache


def test_fresh_install_lists_phq9_offline_from_the_shipped_cache(academy):
    found = discover_json(academy, "-s", "depression", "--offline")
    phq9 = next(f for f in found if f["acronym"] == "PHQ-9")
    assert phq9["status"] == "shipped" and "11556941" in phq9["pmids"]
    assert set(phq9) >= {"name", "acronym", "studies", "pmids", "status"}
    text = academy("instruments", "discover", "-s", "depression", "--offline")
    assert "from the shipped cache, made 2026-12-07" in text.out and "not a live PubMed search" in text.out


def test_shipped_cache_covers_every_shipped_specialization_and_says_how_it_was_made(academy):
    cache = shipped_cache()
    assert sorted(cache["specializations"]) == SHIPPED_SPECIALIZATIONS
    assert cache["created"] == "2026-12-07" and "without network access" in cache["how_made"]
    for specialization in SHIPPED_SPECIALIZATIONS:
        found = discover_json(academy, "-s", specialization, "--offline")
        assert found
        assert all(f["pmids"] and f["status"] in ("shipped", "importable", "unknown") for f in found)


def test_a_specialization_without_a_shipped_instrument_says_what_to_import(academy, tmp_path):
    from tests.instruments.test_text_import import aq10_file

    autism = academy("instruments", "discover", "-s", "autism", "--offline")
    assert autism.code == 0, autism.err
    assert "autism has no shipped instrument: import aq-10" in autism.out
    assert "academy instruments import aq-10 --items FILE" in autism.out
    assert "AQ-10              importable" in autism.out

    assert academy("instruments", "import", "aq-10", "--items", str(aq10_file(tmp_path))).code == 0
    after = academy("instruments", "discover", "-s", "autism", "--offline", "--json")
    (aq10,) = [f for f in json.loads(after.out) if f["id"] == "aq-10"]
    assert aq10["imported"] is True
    ready = academy("instruments", "discover", "-s", "autism", "--offline")
    assert "item text of aq-10 is imported here: ready" in ready.out

    depression = academy("instruments", "discover", "-s", "depression", "--offline")
    assert "has no shipped instrument" not in depression.out


def test_offline_without_any_cache_and_online_without_queries(academy, tmp_path):
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "gout.yaml").write_text(
        "id: gout\ndisplay_name: Gout\ndescription: Gout.\nsubreddits: [gout]\ninstruments: [phq-9]\n"
        "persona_guidance: Be a person with gout.\n"
    )
    (academy.data_dir / "specializations").mkdir(parents=True)
    (academy.data_dir / "specializations" / "gout.yaml").write_text((folder / "gout.yaml").read_text())
    offline = academy("instruments", "discover", "-s", "gout", "--offline")
    assert offline.code == 1 and "no discovery cache for gout" in offline.err
    online = academy("instruments", "discover", "-s", "gout", "--email", EMAIL)
    assert online.code == 1 and "gout has no PubMed queries" in online.err and "pubmed:" in online.err


def test_query_templates_with_unknown_placeholders_are_refused():
    from jedi_academy.specializations import SpecializationError, parse_specialization

    text = (
        "id: gout\ndisplay_name: Gout\ndescription: Gout.\nsubreddits: [gout]\ninstruments: [phq-9]\n"
        "persona_guidance: x\npubmed:\n  condition: '\"Gout\"[MeSH]'\n"
        "  queries: ['({condition}) AND {typo}']\n"
    )
    with pytest.raises(SpecializationError, match=r"gout.yaml: pubmed.queries: unknown placeholder \{typo\}"):
        parse_specialization(text, "gout.yaml")


def test_offline_cache_miss_for_raw_replies_is_still_an_error(tmp_path, eutils):
    from jedi_academy.instruments.pubmed.discover import search

    config = EntrezConfig(cache_dir=tmp_path, email=EMAIL, base_url=eutils.base_url, offline=True)
    with pytest.raises(AcademyError, match="not in the cache"):
        search("depression", '"Depression"[MeSH]', ["({condition})"], EntrezClient(config))
