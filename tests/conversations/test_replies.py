"""Clean-up and truncation handling of patient replies."""

from jedi_academy.conversations.replies import (
    clean_answer,
    looks_truncated,
    sounds_resolved,
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


def test_sudden_recovery_is_recognised_but_ordinary_talk_about_feeling_better_is_not() -> None:
    resolved = [
        "Honestly I feel so much better already!",
        "You've really fixed me.",
        "I’m a lot better now",
        "I think I'm completely cured.",
    ]
    ordinary = [
        "I feel better when I walk the dog.",
        "Maybe it gets better, I don't know.",
        "It was a lot better last year.",
        "You have helped others, I guess.",
    ]
    assert [sounds_resolved(text) for text in resolved] == [True] * 4
    assert [sounds_resolved(text) for text in ordinary] == [False] * 4
