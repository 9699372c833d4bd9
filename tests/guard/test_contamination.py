"""The contamination guard on crafted text, on the shipped instruments, and on imported item text."""

import pytest

from jedi_academy.conversations.questions import load_question_bank
from jedi_academy.guard.contamination import (
    ContaminationGuard,
    GuardSettings,
    Phrase,
    guard_for_specialization,
)
from jedi_academy.instruments.loading import packaged_definition
from jedi_academy.instruments.text_import import import_text
from jedi_academy.specializations import load_specializations


@pytest.fixture(scope="module")
def phq() -> ContaminationGuard:
    return guard_for_specialization("depression")


@pytest.mark.parametrize(
    "text",
    [
        "Honestly I've been feeling down, depressed, or hopeless most of the time.",  # PHQ-9 item 2
        "it's LITTLE INTEREST or pleasure in doing things, really",  # case and punctuation do not hide it
        "Over the last 2 weeks, how often have you been bothered by stuff?",  # the stem
        "I'd say more than half the days, to be honest.",  # an option label
        "poor appetite or overeating",  # a 4-word item, matched whole
    ],
)
def test_instrument_wording_is_detected(phq: ContaminationGuard, text: str) -> None:
    assert phq.is_contaminated(text)
    assert {m.instrument_id for m in phq.matches(text)} == {"phq-9"}


@pytest.mark.parametrize(
    "text",
    [
        "I feel flat and I can't see the point of much anymore.",
        "Most days I can't be bothered with the things I used to love.",
        "How often have you been out this week?",  # function words only
        "Not at all, I'm fine with that.",  # a short, everyday option label
        "I sleep badly and wake at four.",
    ],
)
def test_everyday_paraphrase_is_not_flagged(phq: ContaminationGuard, text: str) -> None:
    assert phq.matches(text) == []


def test_thresholds_are_configurable() -> None:
    phrase = [Phrase("x", "item", "item 1", "alpha beta gamma delta epsilon zeta")]
    strict = ContaminationGuard(phrase, GuardSettings(shingle_size=5, min_shared=1))
    lenient = ContaminationGuard(phrase, GuardSettings(shingle_size=5, min_shared=2))
    text = "we said alpha beta gamma delta epsilon then stopped"
    assert strict.is_contaminated(text) and not lenient.is_contaminated(text)
    assert lenient.is_contaminated("alpha beta gamma delta epsilon zeta")
    assert lenient.matches("alpha beta gamma delta epsilon zeta")[0].shared == 2


@pytest.mark.parametrize("spec_id", sorted(load_specializations()))
def test_shipped_question_banks_do_not_use_instrument_wording(spec_id: str) -> None:
    spec = load_specializations()[spec_id]
    guard = guard_for_specialization(spec.id, spec.instruments)
    bank = load_question_bank(spec.id)
    assert bank.specific, f"no question bank for {spec.id}"
    assert {q.phase for q in bank.questions} == {
        "intake",
        "symptoms",
        "situations",
        "history",
        "follow_up",
        "goals",
    }
    flagged = [(q.id, guard.matches(q.text)) for q in bank.questions if guard.is_contaminated(q.text)]
    assert flagged == []


def test_instruments_without_text_are_reported_until_imported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = guard_for_specialization("adhd", data_dir=tmp_path)
    assert before.unchecked_instruments == ["asrs-v1.1-a"] and before.checked_instruments == []
    text = tmp_path / "asrs.yaml"
    items = "\n".join(
        f'  "{n}": "Placeholder statement number {n} about keeping appointments"' for n in range(1, 7)
    )
    text.write_text(f"instrument: asrs-v1.1-a\nitems:\n{items}\n", encoding="utf-8")
    import_text(packaged_definition("asrs-v1.1-a"), text, tmp_path)
    after = guard_for_specialization("adhd", data_dir=tmp_path)
    assert after.unchecked_instruments == [] and after.checked_instruments == ["asrs-v1.1-a"]
    assert after.is_contaminated("it's like placeholder statement number 3 about keeping appointments for me")


def test_a_natural_disclosure_is_kept_and_flagged_while_item_wording_is_not(phq: ContaminationGuard) -> None:
    disclosure = "Sometimes I think I would be better off dead."
    assert not phq.is_contaminated(disclosure)
    (flag,) = phq.disclosures(disclosure)
    assert (flag.instrument_id, flag.where, flag.kind) == ("phq-9", "item 9", "disclosure")
    verbatim = "Thoughts that you would be better off dead or of hurting yourself in some way."
    assert phq.is_contaminated(verbatim) and phq.disclosures(verbatim) == []
    # the same words said about someone else, or buried in a long sentence, are not a disclosure
    assert phq.is_contaminated("She said her brother would be better off dead.")
    # one disclosure among other sentences is flagged on its own
    mixed = "Work is fine. Sometimes I think I would be better off dead. Anyway."
    assert not phq.is_contaminated(mixed) and len(phq.disclosures(mixed)) == 1


def test_the_guard_over_all_instruments_checks_every_shipped_text_and_names_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.guard.contamination import guard_for_all_instruments
    from jedi_academy.instruments import list_instruments

    guard = guard_for_all_instruments(tmp_path)
    ids = {i.id for i in list_instruments(tmp_path)}
    assert set(guard.checked_instruments) | set(guard.unchecked_instruments) == ids
    assert {"phq-9", "gad-7"} <= set(guard.checked_instruments)
    assert "aq-10" in guard.unchecked_instruments
    fingerprint = guard.fingerprint()
    assert set(fingerprint["instruments"]) == set(guard.checked_instruments) | {
        i for i in ids if any(p.instrument_id == i for p in guard.phrases)
    }
