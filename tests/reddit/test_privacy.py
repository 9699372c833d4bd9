from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jedi_academy.config import load_settings
from jedi_academy.reddit.privacy import Pseudonymizer, load_or_create_secret, scrub, secret_path


def test_pseudonyms_are_stable_with_the_same_key_and_differ_with_another() -> None:
    first, again, other = Pseudonymizer(b"k" * 32), Pseudonymizer(b"k" * 32), Pseudonymizer(b"o" * 32)
    assert first.author("YoungModern") == again.author("YoungModern")
    assert first.author("YoungModern") != other.author("YoungModern")
    assert first.author("YoungModern") != first.author("OldModern")
    assert "YoungModern" not in (first.author("YoungModern") or "")


def test_usernames_are_case_insensitive() -> None:
    p = Pseudonymizer(b"k" * 32)
    assert p.author("YoungModern") == p.author("youngmodern")


@pytest.mark.parametrize("name", ["[deleted]", "[removed]", "", None, 42])
def test_deleted_authors_become_null_not_a_shared_pseudonym(name: object) -> None:
    assert Pseudonymizer(b"k" * 32).author(name) is None


def test_secret_is_created_once_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    key = load_or_create_secret(settings)
    path = secret_path(settings)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_secret(settings) == key
    other = load_or_create_secret(load_settings(data_dir=tmp_path / "other"))
    assert other != key


def test_unreadable_secret_is_a_clear_error(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    secret_path(settings).parent.mkdir(parents=True)
    secret_path(settings).write_text("not hex")
    with pytest.raises(Exception, match="pseudonymisation key"):
        load_or_create_secret(settings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks /u/Some_User and u/other-1!", "thanks [USER] and [USER]!"),
        ("try r/ADHD or /r/adhdwomen.", "try [SUBREDDIT] or [SUBREDDIT]."),
        ("see https://www.reddit.com/r/ADHD/comments/2q/x/ now", "see [URL] now"),
        ("(http://example.org/a?b=1).", "([URL])."),
        ("at www.nami.org, or nami.org/help", "at [URL], or [URL]"),
        ("write to jane.doe+x@gmail.com please", "write to [EMAIL] please"),
        ("call 555-123-4567 or (555) 123-4567", "call [PHONE] or [PHONE]"),
        ("UK: +44 20 7946 0958 or 07700 900123.", "UK: [PHONE] or [PHONE]."),
        ("hotline 1-800-273-8255", "hotline [PHONE]"),
        ("I &gt; you &amp; me", "I > you & me"),
    ],
)
def test_scrub_replaces_identifiers_with_typed_placeholders(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "on 2015-01-31 at 12.30 I took 20 mg",
        "and/or w/r/t the bureau/department",
        "scored 1000000 points in 3.5 hours, version 1.2.3",
        "i.e. the e.g. case",
        "my score was 120/80",
    ],
)
def test_scrub_leaves_ordinary_text_alone(text: str) -> None:
    assert scrub(text) == text
