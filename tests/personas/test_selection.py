"""Which authors are picked, in what order, and what the model is shown of them."""

from collections import Counter

from jedi_academy.personas.selection import (
    SelectionRules,
    candidates,
    order_for_diversity,
    shorten,
    to_candidate,
)
from tests.personas.helpers import make_bundle


def test_authors_without_enough_comments_or_words_or_already_used_are_left_out() -> None:
    bundles = [
        make_bundle("few", ["one short comment here", "and another short one"]),
        make_bundle("terse", ["a b c d", "e f g h", "i j k l"]),
        make_bundle("used"),
        make_bundle("ok"),
    ]
    chosen = list(candidates(bundles, SelectionRules(min_comments=3, min_words=20), exclude_authors={"used"}))
    assert [c.author for c in chosen] == ["ok"]


def test_order_alternates_between_the_subreddits_authors_write_in() -> None:
    bundles = [make_bundle(f"a{n}", subreddit="Anxiety") for n in range(6)]
    bundles += [make_bundle(f"s{n}", subreddit="socialanxiety") for n in range(2)]
    ordered = order_for_diversity(bundles, seed=3)
    first_four = Counter(b.comments[0].subreddit for b in ordered[:4])
    assert first_four == {"Anxiety": 2, "socialanxiety": 2}
    assert [b.author for b in order_for_diversity(bundles, seed=3)] == [b.author for b in ordered]
    assert [b.author for b in order_for_diversity(bundles, seed=4)] != [b.author for b in ordered]


def test_model_sees_the_wordiest_comments_in_time_order_under_local_labels() -> None:
    texts = [
        "short one here",
        "a much longer comment with many more words in it",
        "medium sized comment text",
    ]
    candidate = to_candidate(make_bundle("bob", texts), SelectionRules(max_comments=2))
    assert [c.label for c in candidate.comments] == ["C1", "C2"]
    assert [c.comment_id for c in candidate.comments] == ["bobx1", "bobx2"]  # time order kept
    assert candidate.labels == {"C1": "bobx1", "C2": "bobx2"}
    assert all("bobx" not in c.text for c in candidate.comments)


def test_long_comments_are_cut_to_the_word_budget() -> None:
    assert shorten("one two  three\nfour", 2) == "one two ..."
    assert shorten("one two", 5) == "one two"
    candidate = to_candidate(
        make_bundle("long", [" ".join(["word"] * 300)] * 3),
        SelectionRules(max_comment_words=50, max_prompt_words=120),
    )
    assert [len(c.text.split()) for c in candidate.comments] == [51, 51, 21]  # the ellipsis counts as a word
