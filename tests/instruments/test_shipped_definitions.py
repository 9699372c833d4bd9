"""The shipped definitions: answer conventions, licences, citations, keys checked against independent keys."""

from __future__ import annotations

import pytest

from jedi_academy.instruments import (
    instrument_ids,
    instruments_for_specialization,
    list_instruments,
    load_instrument,
    specialization_map,
)

SHIPPED = ["aq-10", "asrs-v1.1-a", "gad-7", "npi-16", "pcl-5", "phq-9"]


def test_the_six_instruments_ship():
    assert list(instrument_ids()) == SHIPPED
    assert [instrument.id for instrument in list_instruments()] == SHIPPED


def test_specialization_mapping():
    assert specialization_map() == {
        "autism": ["aq-10"],
        "adhd": ["asrs-v1.1-a"],
        "anxiety": ["gad-7"],
        "narcissism": ["npi-16"],
        "ptsd": ["pcl-5"],
        "depression": ["phq-9"],
    }
    assert instruments_for_specialization("ptsd") == ["pcl-5"]
    assert instruments_for_specialization("astrology") == []


@pytest.mark.parametrize(
    ("instrument_id", "items", "codes", "labels"),
    [
        (
            "phq-9",
            9,
            [0, 1, 2, 3],
            ["Not at all", "Several days", "More than half the days", "Nearly every day"],
        ),
        (
            "gad-7",
            7,
            [0, 1, 2, 3],
            ["Not at all", "Several days", "More than half the days", "Nearly every day"],
        ),
        (
            "pcl-5",
            20,
            [0, 1, 2, 3, 4],
            ["Not at all", "A little bit", "Moderately", "Quite a bit", "Extremely"],
        ),
        (
            "aq-10",
            10,
            [0, 1, 2, 3],
            ["Definitely agree", "Slightly agree", "Slightly disagree", "Definitely disagree"],
        ),
        ("npi-16", 16, [1, 2], ["First statement", "Second statement"]),
        ("asrs-v1.1-a", 6, [0, 1, 2, 3, 4], ["Never", "Rarely", "Sometimes", "Often", "Very often"]),
    ],
)
def test_answer_conventions(instrument_id, items, codes, labels):
    instrument = load_instrument(instrument_id)
    assert len(instrument.scored_items) == items
    for item in instrument.scored_items:
        assert list(item.codes) == codes
        assert [option.label for option in item.options] == labels


def test_phq9_and_gad7_difficulty_items_are_optional_and_unscored():
    for instrument_id, item_id in (("phq-9", "10"), ("gad-7", "8")):
        item = load_instrument(instrument_id).item(item_id)
        assert (item.scored, item.optional) == (False, True)
        assert [o.label for o in item.options][-1] == "Extremely difficult"


@pytest.mark.parametrize(
    ("instrument_id", "shippable"),
    [
        ("phq-9", True),
        ("gad-7", True),
        ("pcl-5", True),
        ("aq-10", False),
        ("npi-16", False),
        ("asrs-v1.1-a", False),
    ],
)
def test_item_text_ships_only_where_the_licence_allows(instrument_id, shippable):
    instrument = load_instrument(instrument_id)
    assert instrument.licence.text_shippable is shippable
    assert instrument.text_source == ("shipped" if shippable else "missing")
    texts = [item.text for item in instrument.items]
    assert all(texts) if shippable else not any(texts)
    if not shippable:
        assert instrument.instructions is None and instrument.stem is None


def test_public_domain_and_free_licences_are_recorded_honestly():
    assert "public domain" in load_instrument("pcl-5").licence.summary
    assert "Pfizer" in load_instrument("phq-9").licence.summary
    assert load_instrument("aq-10").licence.commercial_use == "not allowed"
    assert load_instrument("npi-16").licence.confirmed is False
    assert load_instrument("asrs-v1.1-a").licence.confirmed is False


@pytest.mark.parametrize(
    ("instrument_id", "pmids", "dois"),
    [
        ("phq-9", {"11556941"}, {"10.1046/j.1525-1497.2001.016009606.x"}),
        ("gad-7", {"16717171"}, {"10.1001/archinte.166.10.1092"}),
        ("pcl-5", {"26606250", "26653052"}, set()),
        ("aq-10", {"22265366"}, set()),
        ("npi-16", {"3379585"}, {"10.1016/j.jrp.2005.03.002", "10.1037/0022-3514.54.5.890"}),
        ("asrs-v1.1-a", {"15841682"}, {"10.1017/S0033291704002892"}),
    ],
)
def test_citations(instrument_id, pmids, dois):
    citations = load_instrument(instrument_id).citations
    assert {c.pmid for c in citations if c.pmid} == pmids
    assert {c.doi for c in citations if c.doi} == dois


def test_verbatim_text_spot_checks():
    phq9 = load_instrument("phq-9")
    assert (
        phq9.item("9").text == "Thoughts that you would be better off dead or of hurting yourself in some way"
    )
    assert (
        phq9.stem
        == "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
    )
    pcl5 = load_instrument("pcl-5")
    assert pcl5.item("17").text == 'Being "superalert" or watchful or on guard?'
    assert pcl5.item("10").text.endswith("what happened after it?")  # CamCOPS drops this "?"
    assert pcl5.stem == "In the past month, how much were you bothered by:"
    assert load_instrument("gad-7").item("7").text == "Feeling afraid as if something awful might happen"
    assert load_instrument("gad-7").item("1").options[0].label == "Not at all"  # not "Not at all sure"


# AQ-50 key from Baron-Cohen et al. 2001: items scored on an 'agree' answer; all others score on 'disagree'.
AQ50_AGREE = {2, 4, 5, 6, 7, 9, 12, 13, 16, 18, 19, 20, 21, 22, 23, 26, 33, 35, 39, 41, 42, 43, 45, 46}
AQ10_TO_AQ50 = [5, 28, 32, 37, 27, 31, 20, 41, 36, 45]


def test_aq10_key_agrees_with_the_aq50_key_of_the_same_items():
    aq10 = load_instrument("aq-10")
    for item, aq50_number in zip(aq10.items, AQ10_TO_AQ50, strict=True):
        assert item.source_number == f"AQ-50 item {aq50_number}"
        scoring_codes = {option.code for option in item.options if option.value == 1}
        assert scoring_codes == ({0, 1} if aq50_number in AQ50_AGREE else {2, 3}), item.id


# openpsychometrics NPI-40 key: the second statement scores on these items, the first on all others.
NPI40_SECOND = {4, 5, 7, 9, 10, 15, 17, 18, 19, 20, 22, 23, 26, 28, 32, 35, 40}


def test_npi16_key_agrees_with_the_npi40_key():
    npi = load_instrument("npi-16")
    numbers = [int(item.id) for item in npi.items]
    assert numbers == sorted(numbers) == [4, 7, 9, 12, 13, 14, 20, 21, 23, 24, 30, 32, 34, 35, 39, 40]
    for item in npi.items:
        (keyed,) = [option.code for option in item.options if option.value == 1]
        assert keyed == (2 if int(item.id) in NPI40_SECOND else 1), item.id


def test_pcl5_clusters_cover_every_item_once():
    subscales = load_instrument("pcl-5").definition.subscales
    assert {s.id: s.items for s in subscales} == {
        "B": ["1", "2", "3", "4", "5"],
        "C": ["6", "7"],
        "D": ["8", "9", "10", "11", "12", "13", "14"],
        "E": ["15", "16", "17", "18", "19", "20"],
    }


def test_options_expose_label_and_scored_value_for_presenting_and_mapping_back():
    item1 = load_instrument("aq-10").item("1")
    assert [(o.code, o.label, o.value) for o in item1.options] == [
        (0, "Definitely agree", 1.0),
        (1, "Slightly agree", 1.0),
        (2, "Slightly disagree", 0.0),
        (3, "Definitely disagree", 0.0),
    ]
    assert item1.value_of(3) == 0.0
