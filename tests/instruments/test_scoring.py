"""Hand-worked scoring examples for every shipped instrument: bands and cut-off edges, keys, rules, flags."""

from __future__ import annotations

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.instruments import ResponseError, load_instrument, score


def run(instrument_id: str, answers):
    return score(load_instrument(instrument_id), answers)


# ---------------------------------------------------------------- PHQ-9


@pytest.mark.parametrize(
    ("answers", "total", "band", "screen"),
    [
        ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "minimal", False),
        ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "minimal", False),
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild", False),
        ([2, 2, 2, 1, 1, 1, 0, 0, 0], 9, "mild", False),
        ([2, 2, 2, 2, 1, 1, 0, 0, 0], 10, "moderate", True),
        ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "moderate", True),
        ([2, 2, 2, 2, 2, 2, 3, 0, 0], 15, "moderately severe", True),
        ([3, 3, 3, 3, 3, 2, 2, 0, 0], 19, "moderately severe", True),
        ([3, 3, 3, 3, 3, 3, 2, 0, 0], 20, "severe", True),
        ([3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "severe", True),
    ],
)
def test_phq9_bands_and_cutoff_edges(answers, total, band, screen):
    result = run("phq-9", answers)
    assert (result.total, result.band, result.positive_screen) == (total, band, screen)
    assert result.subscales == {} and result.outcomes == {}


@pytest.mark.parametrize(("item9", "flags"), [(0, []), (1, ["9"]), (2, ["9"]), (3, ["9"])])
def test_phq9_item9_safety_flag(item9, flags):
    assert run("phq-9", [0, 0, 0, 0, 0, 0, 0, 0, item9]).safety_flags == flags


def test_phq9_unanswered_item9_is_flagged_because_risk_is_not_ruled_out():
    result = run("phq-9", [0, 0, 0, 0, 0, 0, 0, 0, None])
    assert result.safety_flags == ["9"]
    assert result.total == 0 and result.prorated


def test_phq9_difficulty_item_is_optional_and_never_added():
    nine = run("phq-9", [1, 1, 1, 1, 1, 1, 1, 1, 0])
    ten = run("phq-9", [1, 1, 1, 1, 1, 1, 1, 1, 0, 3])
    assert nine.total == ten.total == 8
    assert ten.answers["10"] == 3


def test_phq9_one_missing_item_is_prorated_half_up():
    # 22 over 8 answered items -> 22 * 9 / 8 = 24.75 -> 25
    result = run("phq-9", [3, 3, 3, 3, 3, 3, 3, None, 1])
    assert (result.total, result.band, result.prorated, result.missing_items) == (25, "severe", True, ["8"])
    # 4 * 9 / 8 = 4.5 rounds half up to 5, which moves the band from minimal to mild
    assert run("phq-9", [1, 1, 1, 1, None, 0, 0, 0, 0]).band == "mild"


def test_phq9_two_missing_items_make_the_total_invalid():
    result = run("phq-9", [3, 3, 3, 3, 3, 3, 3, None, None])
    assert (result.total, result.band, result.positive_screen, result.valid) == (None, None, None, False)
    assert result.as_dict()["total"] is None


# ---------------------------------------------------------------- GAD-7


@pytest.mark.parametrize(
    ("answers", "total", "band", "screen"),
    [
        ([0, 0, 0, 0, 0, 0, 0], 0, "minimal", False),
        ([1, 1, 1, 1, 0, 0, 0], 4, "minimal", False),
        ([1, 1, 1, 1, 1, 0, 0], 5, "mild", False),
        ([2, 2, 2, 1, 1, 1, 0], 9, "mild", False),
        ([2, 2, 2, 2, 1, 1, 0], 10, "moderate", True),
        ([2, 2, 2, 2, 2, 2, 2], 14, "moderate", True),
        ([3, 2, 2, 2, 2, 2, 2], 15, "severe", True),
        ([3, 3, 3, 3, 3, 3, 3], 21, "severe", True),
    ],
)
def test_gad7_bands_and_cutoff_edges(answers, total, band, screen):
    result = run("gad-7", answers)
    assert (result.total, result.band, result.positive_screen, result.safety_flags) == (
        total,
        band,
        screen,
        [],
    )


# ---------------------------------------------------------------- PCL-5

B, C, D, E = range(1, 6), range(6, 8), range(8, 15), range(15, 21)


def pcl(**ratings: int) -> list[int | None]:
    """20 answers, 0 unless given as i<N>=rating."""
    answers: list[int | None] = [0] * 20
    for key, value in ratings.items():
        answers[int(key[1:]) - 1] = value
    return answers


def test_pcl5_cluster_rule_met_with_the_fewest_endorsed_items():
    result = run("pcl-5", pcl(i1=2, i6=2, i8=2, i9=2, i15=2, i16=2))
    assert result.outcomes == {"provisional_diagnosis": True}
    assert result.total == 12 and result.positive_screen is False
    assert result.subscales == {"B": 2, "C": 2, "D": 4, "E": 4}


@pytest.mark.parametrize(
    "missing_cluster",
    [
        dict(i6=2, i8=2, i9=2, i15=2, i16=2),  # no B
        dict(i1=2, i8=2, i9=2, i15=2, i16=2),  # no C
        dict(i1=2, i6=2, i8=2, i15=2, i16=2),  # one D
        dict(i1=2, i6=2, i8=2, i9=2, i15=2),  # one E
    ],
)
def test_pcl5_cluster_rule_fails_when_any_cluster_falls_short(missing_cluster):
    assert run("pcl-5", pcl(**missing_cluster)).outcomes["provisional_diagnosis"] is False


def test_pcl5_a_rating_of_one_does_not_count_as_endorsed():
    assert run("pcl-5", [1] * 20).outcomes["provisional_diagnosis"] is False
    one_short = pcl(i1=2, i6=2, i8=2, i9=1, i15=2, i16=2)
    assert run("pcl-5", one_short).outcomes["provisional_diagnosis"] is False


def test_pcl5_high_total_without_avoidance_screens_positive_but_misses_the_diagnosis():
    answers = [0 if i in C else 4 for i in range(1, 21)]
    result = run("pcl-5", answers)
    assert result.total == 72 and result.positive_screen is True
    assert result.outcomes["provisional_diagnosis"] is False


def test_pcl5_cutoff_edge_32_33():
    at_32 = [2] * 16 + [0] * 4
    assert run("pcl-5", at_32).total == 32
    assert run("pcl-5", at_32).positive_screen is False
    at_33 = [2] * 16 + [1, 0, 0, 0]
    assert (run("pcl-5", at_33).total, run("pcl-5", at_33).positive_screen) == (33, True)


def test_pcl5_missing_answers_leave_the_rule_open_only_when_they_could_change_it():
    open_c = [None if i in C else 2 for i in range(1, 21)]
    result = run("pcl-5", open_c)
    assert result.outcomes["provisional_diagnosis"] is None
    assert result.total == 40  # 36 over 18 items * 20 = 40, prorated
    assert result.subscales["C"] is None
    no_b = [0 if i in B else None if i in C else 2 for i in range(1, 21)]
    assert run("pcl-5", no_b).outcomes["provisional_diagnosis"] is False


def test_pcl5_three_missing_invalidate_the_total_but_a_settled_rule_stands():
    answers = [None if i in (6, 7, 8) else 2 for i in range(1, 21)]
    result = run("pcl-5", answers)
    assert result.total is None and result.subscales == {"B": None, "C": None, "D": None, "E": None}
    assert result.outcomes["provisional_diagnosis"] is None
    answers[6 - 1] = 3
    assert run("pcl-5", answers).outcomes["provisional_diagnosis"] is True


# ------------------------------------------------ AQ-10 (0 = Definitely agree ... 3 = Definitely disagree)


@pytest.mark.parametrize(
    ("answers", "total", "screen"),
    [
        ([0] * 10, 4, False),  # agreeing scores only the agree-keyed items 1, 7, 8, 10
        ([1] * 10, 4, False),
        ([2] * 10, 6, True),  # disagreeing scores the six disagree-keyed items
        ([3] * 10, 6, True),
        ([0, 3, 3, 3, 3, 3, 0, 0, 3, 0], 10, True),
        ([3, 0, 0, 0, 0, 0, 3, 3, 0, 3], 0, False),
        ([2, 3, 3, 3, 3, 3, 2, 2, 0, 2], 5, False),  # cut-off edge: 5 is below 6
        ([1, 3, 3, 3, 3, 3, 2, 2, 0, 2], 6, True),
    ],
)
def test_aq10_keyed_items_and_cutoff(answers, total, screen):
    result = run("aq-10", answers)
    assert (result.total, result.positive_screen, result.band) == (total, screen, None)


def test_aq10_slightly_counts_like_definitely():
    only_item2 = [3, 2, 0, 0, 0, 0, 3, 3, 0, 3]
    assert run("aq-10", only_item2).total == 1
    only_item2[1] = 1  # slightly agree on a disagree-keyed item scores nothing
    assert run("aq-10", only_item2).total == 0


def test_aq10_allows_no_missing_answers():
    result = run("aq-10", [0, 3, 3, 3, 3, 3, 0, 0, 3, None])
    assert result.total is None and result.positive_screen is None


# ---------------------------------------------------------------- NPI-16 (1 = first, 2 = second statement)

NPI_IDS = ["4", "7", "9", "12", "13", "14", "20", "21", "23", "24", "30", "32", "34", "35", "39", "40"]
NPI_KEY = [2, 2, 2, 1, 1, 1, 2, 1, 2, 1, 1, 2, 1, 2, 1, 2]


def test_npi16_counts_keyed_choices():
    assert run("npi-16", NPI_KEY).total == 16
    assert run("npi-16", [3 - k for k in NPI_KEY]).total == 0
    everything_first = run("npi-16", [1] * 16)
    assert (
        everything_first.total == 8
    )  # items 12, 13, 14, 21, 24, 30, 34, 39 are keyed on the first statement
    assert everything_first.subscales == {"mean": 0.5}


def test_npi16_has_no_band_or_screen():
    result = run("npi-16", [2] * 16)
    assert (result.band, result.positive_screen) == (None, None)
    assert result.as_dict()["positive_screen"] is None


def test_npi16_accepts_answers_keyed_by_npi40_number():
    answers = dict(zip(NPI_IDS, NPI_KEY, strict=True))
    answers["40"] = 1
    result = run("npi-16", answers)
    assert result.total == 15
    assert result.subscales["mean"] == pytest.approx(15 / 16)


# ---------------------------------------------------------------- ASRS v1.1 Part A (0 Never ... 4 Very often)


@pytest.mark.parametrize(
    ("answers", "shaded", "screen", "frequency"),
    [
        ([2, 2, 2, 2, 2, 2], 3, False, 12),  # Sometimes shades items 1-3 only
        ([2, 2, 2, 3, 2, 2], 4, True, 13),
        ([1, 1, 1, 4, 4, 4], 3, False, 15),  # a higher raw sum can still screen negative
        ([1, 1, 2, 3, 3, 3], 4, True, 13),
        ([4, 4, 4, 4, 4, 4], 6, True, 24),
        ([0, 0, 0, 0, 0, 0], 0, False, 0),
        ([3, 3, 3, 2, 2, 2], 3, False, 15),
    ],
)
def test_asrs_shaded_thresholds(answers, shaded, screen, frequency):
    result = run("asrs-v1.1-a", answers)
    assert (result.total, result.positive_screen) == (shaded, screen)
    assert result.subscales == {"symptom_frequency": frequency}


def test_asrs_item_thresholds_one_by_one():
    for position in range(6):
        threshold = 2 if position < 3 else 3
        for code in range(5):
            answers = [0] * 6
            answers[position] = code
            assert run("asrs-v1.1-a", answers).total == (1 if code >= threshold else 0), (position + 1, code)


# ---------------------------------------------------------------- bad answers


def test_too_few_answers_names_the_first_unanswered_item():
    with pytest.raises(ResponseError, match="item 20 has no answer") as caught:
        run("pcl-5", [0] * 19)
    assert caught.value.item_id == "20"


def test_too_many_answers_is_an_error():
    with pytest.raises(ResponseError, match="got 11"):
        run("phq-9", [0] * 11)
    with pytest.raises(ResponseError, match="got 7"):
        run("asrs-v1.1-a", [0] * 7)


@pytest.mark.parametrize(
    ("instrument_id", "position", "value", "item_id"),
    [
        ("phq-9", 2, 4, "3"),
        ("phq-9", 9, 4, "10"),
        ("gad-7", 0, -1, "1"),
        ("pcl-5", 19, 5, "20"),
        ("aq-10", 4, 4, "5"),
        ("npi-16", 0, 0, "4"),
        ("npi-16", 15, 3, "40"),
        ("asrs-v1.1-a", 5, 5, "6"),
    ],
)
def test_out_of_range_answer_names_the_item(instrument_id, position, value, item_id):
    instrument = load_instrument(instrument_id)
    answers: list[int | None] = [instrument.items[i].codes[0] for i in range(len(instrument.items))]
    answers[position] = value
    with pytest.raises(ResponseError, match=rf"item {item_id}: answer {value} is out of range") as caught:
        score(instrument, answers)
    assert caught.value.item_id == item_id
    assert "codes:" in (caught.value.hint or "")


@pytest.mark.parametrize("bad", [True, 1.5, "2"])
def test_non_integer_answers_are_rejected(bad):
    with pytest.raises(ResponseError, match=r"item 2: answer .* is not a whole-number code"):
        run("gad-7", [0, bad, 0, 0, 0, 0, 0])


def test_unknown_item_in_a_mapping_is_rejected():
    with pytest.raises(ResponseError, match="no item '11'"):
        run("phq-9", {"1": 0, "11": 2})


def test_response_error_is_an_academy_error():
    assert issubclass(ResponseError, AcademyError)


def test_instrument_can_be_named_by_id():
    assert score("gad-7", [3] * 7).total == 21
