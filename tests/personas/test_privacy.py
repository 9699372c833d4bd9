"""The leak detector (shared word runs and shingles) and the source-identifier check, on crafted cards."""

import random

import pytest

from jedi_academy.guard.overlap import longest_common_run, shared_share, words
from jedi_academy.personas.privacy import LeakLimits, identifier_problems, leak_report
from tests.factories import make_card

SOURCE = [
    "Honestly the worst bit is waking at four in the morning with my heart racing for no reason.",
    "I stopped going to the climbing gym because I could not face the people there anymore.",
]


def card_with(text: str, field: str = "resistances"):  # type: ignore[no-untyped-def]
    data = make_card().model_dump()
    data[field][0]["text"] = text
    return type(make_card()).model_validate(data)


def test_copied_run_of_eight_words_is_a_leak_whatever_the_case_and_punctuation() -> None:
    copied = card_with("WAKING at four, in the morning; with my heart racing!")  # 10 source words in a row
    report = leak_report(copied, SOURCE)
    assert report.longest_common_run == 10
    assert "common_run" in report.violations(LeakLimits())


def test_paraphrase_is_not_a_leak() -> None:
    paraphrase = card_with("Wakes before dawn with a pounding heart and cannot settle")
    report = leak_report(paraphrase, SOURCE)
    assert report.longest_common_run <= 3 and report.shingle_share == 0.0
    assert report.violations(LeakLimits()) == []


def test_seven_shared_words_pass_and_the_limit_is_configurable() -> None:
    seven = card_with(
        "Has stopped going to the climbing gym because of work"
    )  # "stopped going ... because" = 7
    report = leak_report(seven, SOURCE)
    assert report.longest_common_run == 7
    assert report.violations(LeakLimits()) == []
    assert report.violations(LeakLimits(max_common_run=6)) == ["common_run"]


def test_share_limit_caps_total_copying_when_the_run_limit_is_relaxed() -> None:
    copied = card_with("I could not face the people there anymore, honestly the worst bit is waking at four")
    relaxed = LeakLimits(max_common_run=50, shingle_size=8, max_shingle_share=0.05)
    report = leak_report(copied, SOURCE, relaxed)
    assert report.shingle_share > 0.05
    assert report.violations(relaxed) == ["shingle_share"]


def test_runs_never_span_two_traits() -> None:
    sources = ["alpha beta gamma delta epsilon zeta eta theta iota kappa"]
    data = make_card().model_dump()
    data["resistances"][0]["text"] = "alpha beta gamma delta epsilon"
    data["goals"][0]["text"] = "zeta eta theta iota kappa"
    card = type(make_card()).model_validate(data)
    assert leak_report(card, sources).longest_common_run == 5


def test_longest_common_run_matches_brute_force() -> None:
    rng = random.Random(7)
    vocabulary = ["a", "b", "c", "d"]
    for _ in range(200):
        a = [tuple(rng.choices(vocabulary, k=rng.randint(0, 12))) for _ in range(2)]
        b = [tuple(rng.choices(vocabulary, k=rng.randint(0, 12))) for _ in range(2)]
        brute = max(
            (n for n in range(1, 13) for x in a for y in b for i in range(len(x) - n + 1)
             for j in range(len(y) - n + 1) if x[i : i + n] == y[j : j + n]),
            default=0,
        )  # fmt: skip
        assert longest_common_run(a, b) == brute


def test_shared_share_counts_the_cards_shingles() -> None:
    card = [words("one two three four five six")]
    assert shared_share(card, [words("zero one two three four")], 3) == pytest.approx(2 / 4)
    assert shared_share([words("too short")], [words("too short")], 3) == 0.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Reads support threads on r/SuicideWatch at night", "reddit_mention"),
        ("Spends evenings on Reddit", "reddit_mention"),
        ("Posts in a subreddit about family", "reddit_mention"),
        ("Feels understood by the raisedbynarcissists crowd", "subreddit_name"),
        ("Mentions comment cn00042 often", "comment_id"),
        ("Goes by a4f9e2 online", "author_pseudonym"),
    ],
)
def test_source_identifiers_in_a_card_are_found(text: str, problem: str) -> None:
    found = identifier_problems(
        card_with(text),
        author="a4f9e2",
        comment_ids=["cn00042"],
        subreddits=["raisedbynarcissists", "depression"],
    )
    assert found == [problem]


def test_a_name_the_author_uses_is_not_a_persona_name() -> None:
    sources = ["Thanks all. - Jenny", "my brother mark never calls"]
    named = make_card("Jenny")
    assert identifier_problems(named, author="f00dcafe", comment_ids=[], subreddits=[], sources=sources) == [
        "source_name"
    ]
    for name in ("Mark", "Robin"):  # "mark" is only used as an ordinary word there
        card = make_card(name)
        assert (
            identifier_problems(card, author="f00dcafe", comment_ids=[], subreddits=[], sources=sources) == []
        )


def test_condition_words_that_are_also_subreddit_names_are_allowed() -> None:
    card = card_with("Has lived with depression and ADHD since school")
    assert (
        identifier_problems(card, author="a4f9e2", comment_ids=["cn1"], subreddits=["depression", "ADHD"])
        == []
    )
