from __future__ import annotations

import pytest

from jedi_academy.reddit.rules import KeepRules, RuleChecker, created_epoch, dedupe_key, score_value
from tests.reddit.dumps import comment

CHECK = RuleChecker(KeepRules())


def test_an_ordinary_comment_is_kept() -> None:
    assert CHECK.reason_to_drop(comment()) is None


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"body": "[deleted]", "author": "[deleted]"}, "deleted_body"),
        ({"body": "[removed]"}, "removed_body"),
        ({"body": ""}, "empty_body"),
        ({"body": " \n\t "}, "empty_body"),
        ({"author": "AutoModerator"}, "excluded_author"),
        ({"author": "automoderator"}, "excluded_author"),
        ({"distinguished": "moderator"}, "distinguished"),
        ({"distinguished": "admin"}, "distinguished"),
        ({"body": "too short to keep"}, "too_short"),
        ({"body": None}, "invalid_record"),
        ({"id": 17}, "invalid_record"),
        ({"created_utc": "yesterday"}, "invalid_record"),
        ({"created_utc": "99999999999999999999"}, "invalid_record"),  # beyond int64
        ({"created_utc": 99999999999999999999}, "invalid_record"),
        ({"created_utc": 1e20}, "invalid_record"),  # orjson reads integers beyond uint64 as floats
        ({"created_utc": "-5"}, "invalid_record"),
        ({"score": 2**63}, "invalid_record"),
        ({"score": -(2**63) - 1}, "invalid_record"),
    ],
)
def test_each_rule_drops_with_its_reason(overrides: dict[str, object], reason: str) -> None:
    assert CHECK.reason_to_drop(comment(**overrides)) == reason


def test_length_counts_characters_of_the_stripped_body() -> None:
    assert CHECK.reason_to_drop(comment(body="  " + "é" * 19 + "  ")) == "too_short"
    assert CHECK.reason_to_drop(comment(body="  " + "é" * 20 + "  ")) is None


def test_deleted_author_with_a_real_body_is_kept() -> None:
    assert CHECK.reason_to_drop(comment(author="[deleted]")) is None


def test_rules_are_configurable() -> None:
    relaxed = RuleChecker(
        KeepRules(min_body_chars=5, drop_distinguished=False, excluded_authors=("SomeBot",))
    )
    assert relaxed.reason_to_drop(comment(body="short one")) is None
    assert relaxed.reason_to_drop(comment(distinguished="moderator")) is None
    assert relaxed.reason_to_drop(comment(author="AutoModerator")) is None
    assert relaxed.reason_to_drop(comment(author="somebot")) == "excluded_author"


def test_unknown_rule_fields_are_rejected() -> None:
    with pytest.raises(ValueError, match="min_body_char"):
        KeepRules.model_validate({"min_body_char": 3})


def test_dedupe_key_collapses_whitespace() -> None:
    assert dedupe_key("  I  feel\n\nthe same\tway ") == dedupe_key("I feel the same way")
    assert dedupe_key("I feel the same way") != dedupe_key("I feel the same way!")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Me &amp; my anxiety, every single day", "Me & my anxiety, every single day"),
        ("I &lt;3 this community so much", "I <3 this community so much"),
        ("Thank you ALL for being here", "thank you all for being here"),
        ("caf\u00e9 conversations help me a lot", "cafe\u0301 conversations help me a lot"),  # NFC
        ("STRASSE noise keeps me awake", "straße noise keeps me awake"),  # casefold, not lower
    ],
)
def test_dedupe_key_sees_through_escapes_unicode_forms_and_case(first: str, second: str) -> None:
    assert dedupe_key(first) == dedupe_key(second)


def test_score_is_stored_when_it_fits_int64() -> None:
    assert score_value(2**63 - 1) == 2**63 - 1 and score_value(-(2**63)) == -(2**63)
    assert score_value(2**63) is None and score_value(True) is None and score_value("3") is None
    assert CHECK.reason_to_drop(comment(score=2**63 - 1)) is None


@pytest.mark.parametrize(
    ("value", "epoch"),
    [("1420070400", 1420070400), (1420070400, 1420070400), ("1420070400.0", 1420070400), (1.5e9, 1500000000)],
)
def test_created_utc_string_or_number(value: object, epoch: int) -> None:
    assert created_epoch(value) == epoch


@pytest.mark.parametrize("value", [None, True, "", "soon", [1], "nan", "inf"])
def test_created_utc_invalid(value: object) -> None:
    assert created_epoch(value) is None
