"""Reliable change on worked numbers (Jacobson & Truax 1991) and the NHS Talking Therapies thresholds."""

from __future__ import annotations

import math

import pytest

from jedi_academy.errors import AcademyError
from jedi_academy.instruments import load_instrument, reliable_change, reliable_change_index
from jedi_academy.instruments.change import se_difference


def test_se_difference_worked_example():
    # SD 5, r .84: SE = 5 * sqrt(.16) = 2; S_diff = sqrt(2 * 2^2) = 2.828...
    assert se_difference(5, 0.84) == pytest.approx(2 * math.sqrt(2))
    assert reliable_change_index(20, 12, 5, 0.84) == pytest.approx(-8 / (2 * math.sqrt(2)))


def test_gad7_implied_sd_reproduces_the_nhs_threshold_of_four():
    # 1.96 * 3.5 * sqrt(2) * sqrt(1 - .83) = 4.00003
    result = reliable_change(load_instrument("gad-7"), 10, 10)
    assert result.min_reliable_change == pytest.approx(4.0, abs=1e-3)


@pytest.mark.parametrize(
    ("before", "after", "classification", "significant"),
    [
        (18, 8, "reliable improvement", True),  # crosses caseness 10 downwards
        (15, 9, "reliable improvement", True),  # a drop of exactly 6
        (15, 10, "no reliable change", False),  # a drop of 5
        (20, 12, "reliable improvement", False),  # still a case afterwards
        (5, 12, "reliable deterioration", True),  # non-case to case
        (12, 18, "reliable deterioration", False),  # already a case
        (9, 9, "no reliable change", False),
    ],
)
def test_phq9_fixed_threshold_classification(before, after, classification, significant):
    result = reliable_change(load_instrument("phq-9"), before, after)
    assert result.method == "fixed_threshold"
    assert (result.classification, result.clinically_significant) == (classification, significant)
    assert result.change == after - before


def test_phq9_rci_with_published_sd_and_reliability():
    # S_diff = 6.17 * sqrt(2) * sqrt(1 - .84) = 3.4903; reliable from 1.96 * 3.4903 = 6.841 points
    phq9 = load_instrument("phq-9")
    result = reliable_change(phq9, 15, 9)
    assert result.se_diff == pytest.approx(3.4903, abs=1e-4)
    assert result.min_reliable_change == pytest.approx(6.8410, abs=1e-4)
    assert result.rci == pytest.approx(-6 / 3.4903, abs=1e-3)
    # the service threshold calls a drop of 6 reliable, the RCI does not
    assert (result.threshold_classification, result.rci_classification) == (
        "reliable improvement",
        "no reliable change",
    )
    by_rci = reliable_change(phq9, 15, 8, method="rci")
    assert (by_rci.method, by_rci.classification) == ("rci", "reliable improvement")
    assert by_rci.rci == pytest.approx(-2.0056, abs=1e-3)


def test_overriding_sd_and_reliability():
    result = reliable_change(load_instrument("phq-9"), 20, 14, sd=5, reliability=0.84, method="rci")
    assert result.rci == pytest.approx(-6 / (2 * math.sqrt(2)))
    assert result.classification == "reliable improvement"


@pytest.mark.parametrize(
    ("before", "after", "classification", "significant"),
    [
        (10, 6, "reliable improvement", True),  # GAD-7 caseness is 8, not the screening 10
        (9, 7, "no reliable change", False),
        (8, 12, "reliable deterioration", False),  # 8 is already a case
        (7, 11, "reliable deterioration", True),
    ],
)
def test_gad7_threshold_four_and_caseness_eight(before, after, classification, significant):
    result = reliable_change(load_instrument("gad-7"), before, after)
    assert (result.classification, result.clinically_significant) == (classification, significant)
    assert result.caseness_cutoff == 8


def test_pcl5_uses_its_fixed_threshold_and_needs_an_sd_for_the_rci():
    pcl5 = load_instrument("pcl-5")
    assert reliable_change(pcl5, 50, 38).classification == "reliable improvement"
    assert reliable_change(pcl5, 50, 38).clinically_significant is False
    assert reliable_change(pcl5, 40, 30).clinically_significant is True
    assert reliable_change(pcl5, 40, 31).classification == "no reliable change"
    with pytest.raises(AcademyError, match="SD and reliability"):
        reliable_change(pcl5, 50, 30, method="rci")
    # SD 15, r .82: S_diff = 15 * sqrt(2 * .18) = 9
    result = reliable_change(pcl5, 50, 30, sd=15, method="rci")
    assert result.se_diff == pytest.approx(9.0)
    assert result.classification == "reliable improvement"
    assert reliable_change(pcl5, 50, 35, sd=15, method="rci").classification == "no reliable change"


def test_instrument_without_change_parameters_needs_them_passed():
    npi = load_instrument("npi-16")
    with pytest.raises(AcademyError, match="npi-16 declares no"):
        reliable_change(npi, 10, 5)
    # SD 3, r .8: S_diff = 3 * sqrt(.4) = 1.8974; RC = -5 / 1.8974 = -2.635
    result = reliable_change(npi, 10, 5, sd=3, reliability=0.8)
    assert result.rci == pytest.approx(-2.6352, abs=1e-3)
    assert result.clinically_significant is None and result.caseness_cutoff is None


def test_bad_change_inputs():
    phq9 = load_instrument("phq-9")
    with pytest.raises(AcademyError, match="outside 0-27"):
        reliable_change(phq9, 30, 10)
    with pytest.raises(AcademyError, match="reliability"):
        reliable_change(phq9, 10, 5, reliability=1.0, method="rci")
    with pytest.raises(AcademyError, match="unknown change method"):
        reliable_change(phq9, 10, 5, method="bayes")  # type: ignore[arg-type]


@pytest.mark.parametrize(("after", "reliable"), [(14.4, True), (14.5, False)])
def test_rci_boundary_is_1_96(after, reliable):
    # S_diff = 2 * sqrt(2) = 2.8284: a drop of 5.6 gives RC = -1.980, a drop of 5.5 gives RC = -1.945
    result = reliable_change(load_instrument("phq-9"), 20, after, sd=5, reliability=0.84, method="rci")
    assert result.classification == ("reliable improvement" if reliable else "no reliable change")


def test_change_criterion_names_what_classifies_change_or_none() -> None:
    from jedi_academy.instruments import change_criterion, load_instrument

    criteria = {
        i: change_criterion(load_instrument(i)) for i in ("phq-9", "gad-7", "pcl-5", "aq-10", "npi-16")
    }
    assert criteria == {
        "phq-9": "fixed_threshold",
        "gad-7": "fixed_threshold",
        "pcl-5": "fixed_threshold",
        "aq-10": None,
        "npi-16": None,
    }
