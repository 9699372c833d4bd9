"""An adversarial corpus for the body scrubber: every identifier the issue measured as missed, and every
ordinary phrase that must survive (false positives cost meaning, and personas are built from it)."""

from __future__ import annotations

import pytest

from jedi_academy.reddit.scrubbing import PLACEHOLDERS, scrub

# (text, expected): each was measured as a miss before this scrubber.
MISSES = [
    ("call me on 5551234567 tonight", "call me on [PHONE] tonight"),  # plain 10 digits
    ("mon portable: 06 12 34 56 78.", "mon portable: [PHONE]."),  # French national format
    ("Jenny, 867-5309, I got your number", "Jenny, [PHONE], I got your number"),  # US local, 7 digits
    ("my SSN is 536-90-4399", "my SSN is [SSN]"),
    ("ssn 123456789 on the form", "ssn [NUMBER] on the form"),
    ("card 4111 1111 1111 1111 expires", "card [CARD] expires"),
    ("amex 378282246310005.", "amex [CARD]."),
    ("card 5500-0000-0000-0004", "card [CARD]"),
    ("my IP is 192.168.1.20, ping me", "my IP is [IP], ping me"),
    ("v6 2001:db8:85a3::8a2e:370:7334 here", "v6 [IP] here"),
    ("link-local fe80::1ff:fe23:4567:890a.", "link-local [IP]."),
    ("born 03/14/1985 in a small town", "born [DATE] in a small town"),
    ("DOB: 1985-03-14", "DOB: [DATE]"),
    ("born 14.03.1985, a Thursday", "born [DATE], a Thursday"),
    ("on March 14, 1985 I was born", "on [DATE] I was born"),
    ("on the 14th of March 1985", "on the [DATE]"),
    ("dob 3/14/85", "dob [DATE]"),
    ("email john at gmail dot com", "email [EMAIL]"),
    ("write jane.doe [at] proton [dot] me", "write [EMAIL]"),
    ("try j.smith(at)example(dot)org", "try [EMAIL]"),
    ("DM me @johnsmith_99 on insta", "DM me [USER] on insta"),
    ("my blog is johnsmith.dev, come say hi", "my blog is [URL], come say hi"),
    ("portfolio at janedoe.me/work", "portfolio at [URL]"),
    ("I live at 1428 Elm Street with my mom", "I live at [ADDRESS] with my mom"),
    ("send it to 221B Baker St, Apt 2", "send it to [ADDRESS]"),
    ("My name is Sarah Connor and I have PTSD", "My name is [NAME] and I have PTSD"),
    ("hi, my name's Tom. I am 34", "hi, my name's [NAME]. I am 34"),
    ("they call me Big Mike at work", "they call me [NAME] at work"),
    # Still caught, as before.
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
    ("account 01234567890123456789 frozen", "account [NUMBER] frozen"),
]

# Ordinary text that must come out unchanged.
FALSE_POSITIVES = [
    "I am.me too",  # a missing space, not a website
    "I went there.it was awful",
    "look at this dot com bubble",
    "meet me at home at noon",
    "scored 1000000 points in 3.5 hours, version 1.2.3",
    "my blood pressure was 120/80",
    "on January 31st at 12.30 I took 20 mg",
    "between 1995-2004 I moved 3 times",
    "I work 9-5 and take 5-10 mg of it",
    "it cost $1,000,000 and 2,500 hours",
    "the alarm went off at 07:30:15",
    "ASP.NET, Node.js, e.g. and i.e. and etc.",
    "and/or w/r/t the bureau/department",
    "I have 2 kids, 3 cats and 1 dog",
    "call me crazy, but it helps",
    "my name is not important",
    "I walked 5 blocks down the road",
    "rated 4.5/5 after 10 years",
    "in the 1990s-2000s",
    "the 2015 Honda I drive",
    "room 101 and floor 3",
    "@ the park, 5 @ 10 each",
    "file report_2015.pdf and notes.txt",
    "Mr. Smith said the D.S.M. 5 says so",
]


@pytest.mark.parametrize(("text", "expected"), MISSES)
def test_identifiers_become_typed_placeholders(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", FALSE_POSITIVES)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert scrub(text) == text


def test_every_placeholder_is_exercised_by_the_corpus() -> None:
    produced = {p for _, expected in MISSES for p in PLACEHOLDERS if p in expected}
    assert produced == set(PLACEHOLDERS)


def test_scrubbing_is_idempotent_on_its_own_output() -> None:
    for text, _ in MISSES:
        once = scrub(text)
        assert scrub(once) == once
