"""Clean-up and truncation handling of patient replies."""

from jedi_academy.conversations.replies import (
    clean_answer,
    looks_truncated,
    trim_to_sentence,
)


def test_labels_and_runaway_therapist_lines_are_removed() -> None:
    assert clean_answer("Robin: I guess so.", "Robin") == "I guess so."
    assert clean_answer("**Patient:** Not really.", "Robin") == "Not really."
    assert clean_answer("I don't know.\nTherapist: Why?\nRobin: Because.", "Robin") == "I don't know."
    assert clean_answer("   \n ", "Robin") == ""


def test_trimming_keeps_whole_sentences_only() -> None:
    assert trim_to_sentence("I sleep badly. Mostly I lie there and think about") == "I sleep badly."
    assert trim_to_sentence('He said "fine." Then he left and the') == 'He said "fine."'
    assert trim_to_sentence("Ok. and then the whole thing") is None  # too little left
    assert trim_to_sentence("no sentence end at all") is None
    assert trim_to_sentence("Version 2.5 is out") is None  # a dot inside a number is not an end


def test_truncation_is_estimated_from_length_and_ending() -> None:
    assert looks_truncated("word " * 60, max_tokens=64)
    assert not looks_truncated(("word " * 60).strip() + ".", max_tokens=64)
    assert not looks_truncated("just a short reply with no full stop", max_tokens=64)


def test_risk_disclosures_are_recognised_and_recovery_talk_goes_to_the_judge() -> None:
    from jedi_academy.conversations.judges import may_claim_recovery, risk_disclosed

    risky = [
        "Sometimes I think I would be better off dead.",
        "I\u2019ve thought about killing myself.",
        "Some nights I don't want to be here anymore.",
        "I used to cut myself in school.",
    ]
    ordinary = ["Work is hard.", "I'm dead tired.", "The deadline killed the mood.", "I cut my hair."]
    assert [risk_disclosed(t) for t in risky] == [True] * 4
    assert [risk_disclosed(t) for t in ordinary] == [False] * 4
    # masking and real claims both reach the judge; everyday talk does not
    assert may_claim_recovery("I'm much better at pretending I'm fine at work")
    assert may_claim_recovery("You've helped me so much, I think I'm okay now.")
    assert not may_claim_recovery("I lie awake until four.")
