"""Scrubbing comment bodies: identifiers become typed placeholders.

Each rule is a pass over the text; later passes never see what earlier ones replaced, so the order
matters: e-mail addresses before URLs (their domain looks like one), URLs before Reddit mentions
(``reddit.com/r/ADHD/...`` is one URL), and dates, IP addresses, card and social security numbers before
phone numbers (their digits would look like one). Phone numbers are found by Google's libphonenumber
(the ``phonenumbers`` package); IP addresses are confirmed by :mod:`ipaddress`, dates by :mod:`datetime`,
card numbers by the Luhn checksum. The Reddit-specific rules (``u/``, ``r/``, ``@handles``, e-mail
addresses spelled out as ``name at gmail dot com``, "my name is ...") are this module's own.

Everything here is a pure function of the text: the same body gives the same result in any process.
What is not caught (names outside the phrases below, addresses in other forms, places, employers, ages) is
listed in docs/ingestion.md.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

PLACEHOLDERS = (
    "[EMAIL]",
    "[URL]",
    "[USER]",
    "[SUBREDDIT]",
    "[IP]",
    "[DATE]",
    "[CARD]",
    "[SSN]",
    "[PHONE]",
    "[NUMBER]",
    "[ADDRESS]",
    "[NAME]",
)

_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


def unescape_reddit(text: str) -> str:
    """Reddit's API escaped exactly these three characters in comment bodies."""
    if "&" not in text:
        return text
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


# ---------------------------------------------------------------- e-mail and web


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_MAIL_PROVIDERS = _words(
    "gmail googlemail yahoo ymail hotmail outlook live msn icloud me mac aol protonmail proton pm gmx "
    "mail yandex zoho comcast verizon att sbcglobal btinternet web orange free laposte"
)
_AT = r"(?:\s*[(\[{<]\s*at\s*[)\]}>]\s*|\s+at\s+)"
_DOT = r"(?:\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+|\.)"
_SPELLED_EMAIL = re.compile(
    rf"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*{_AT}(?P<domain>[A-Za-z0-9-]+)(?:{_DOT}[A-Za-z0-9-]+)*"
    rf"{_DOT}(?P<tld>[A-Za-z]{{2,6}})\b",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"[(\[{<]\s*(?:at|dot)\s*[)\]}>]", re.IGNORECASE)
# What _spelled_email accepts starts with one of these; the full pattern is slow on ordinary text.
_SPELLED_EMAIL_HINT = re.compile(
    rf"[(\[{{<]\s*at\s*[)\]}}>]|\sat\s+(?:{'|'.join(sorted(_MAIL_PROVIDERS))})\b", re.IGNORECASE
)

# Top-level domains recognised without a scheme or www (a longer list would catch more typos than sites).
_TLDS = _words(
    "com net org edu gov mil int io co ai app dev me uk us ca au de fr nl be ch at se no dk fi es it "
    "pl ru jp cn in br mx nz ie eu info biz xyz site online blog tech page ly gl tv fm gg to am cc ws "
    "tk ml ga is la link live news shop store club so do my"
)
# TLDs that are also English words: "I am.me" or "the end.so" is a missing space, not a website.
_WORD_TLDS = _words("me us at be no it is to am in so do my la link live news shop store club page site")
_SCHEME_URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>\"'\])]+", re.IGNORECASE)
_BARE_DOMAIN = re.compile(
    r"(?<![\w@./-])(?P<labels>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+)"
    r"(?P<tld>[a-z]{2,6})\b(?![.-]?\w)(?P<path>/[^\s<>\"'\])]*)?"
)
_TRAILING_PUNCTUATION = ".,;:!?"


def _scheme_url(match: re.Match[str]) -> str:
    text = match.group(0)
    trimmed = text.rstrip(_TRAILING_PUNCTUATION)
    return "[URL]" + text[len(trimmed) :]


def _bare_domain(match: re.Match[str]) -> str:
    tld = match["tld"]
    labels = match["labels"].rstrip(".").split(".")
    if tld not in _TLDS:
        return match.group(0)
    if tld in _WORD_TLDS and not match["path"] and len(labels) == 1 and len(labels[0]) < 6:
        return match.group(0)
    path = match["path"] or ""
    trimmed = path.rstrip(_TRAILING_PUNCTUATION)
    return "[URL]" + path[len(trimmed) :]


def _spelled_email(match: re.Match[str]) -> str:
    """``john at gmail dot com``: only with a bracketed (at)/(dot) or a known mail provider, since
    "look at this dot com bubble" has the same shape."""
    text = match.group(0)
    known = match["domain"].lower() in _MAIL_PROVIDERS and match["tld"].lower() in _TLDS
    return "[EMAIL]" if known or _BRACKETED.search(text) else text


# ---------------------------------------------------------------- Reddit and social handles

_USER = re.compile(r"(?<![\w/])/?(?:u|user)/[A-Za-z0-9_-]{2,20}\b", re.IGNORECASE)
_SUBREDDIT = re.compile(r"(?<![\w/])/?r/[A-Za-z0-9][A-Za-z0-9_]{1,20}\b", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@.+-])@[A-Za-z_][A-Za-z0-9_.]{1,29}(?<!\.)")

# ---------------------------------------------------------------- numbers

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")

_MONTHS = (
    "January|February|March|April|May|June|July|August|September|October|November|December"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_DAY_MONTH_YEAR = re.compile(
    r"(?<![\w/.-])(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})(?![\w/]|[.-]\d)"
)
_YEAR_MONTH_DAY = re.compile(
    r"(?<![\w/.-])(?P<year>\d{4})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?![\w/]|[.-]\d)"
)
_WORDY_DATE = re.compile(
    rf"\b(?:(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?"
    rf"(?:{_MONTHS})\.?,?\s+)(?:19|20)\d\d\b"
)

_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_SSN = re.compile(r"(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w-])")
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{5,}\d(?![\w])")
_LOCAL_PHONE = re.compile(r"\d{3}[-. ]\d{4}")
_NATIONAL_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}"  # international, with +
    r"|0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}"  # national format with a trunk 0 (UK, EU, AU)
    r"|0\d(?:[ .]\d\d){4}"  # French style: 06 12 34 56 78
    r")(?![\w])"
)
_LONG_NUMBER = re.compile(r"(?<![\w.,])\d{9,}(?![\w]|[.,]\d)")
_HAS_DIGITS = re.compile(r"\d")

# ---------------------------------------------------------------- addresses and names

_STREET_TYPES = (
    "Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Place|Pl|Terrace|Way|Circle"
    "|Parkway|Pkwy|Highway|Hwy|Square|Sq|Crescent|Close|Gardens"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,6}}[A-Za-z]?\s+(?:(?:[NSEW]\.?|North|South|East|West)\s+)?(?:[A-Z][a-z]+\s+){{1,3}}"
    rf"(?:{_STREET_TYPES})\b(?:,?\s+(?:Apt|Apartment|Unit|Suite)\.?\s*\w+)?"
)
_NAME_INTRO = re.compile(
    r"(?P<intro>\b(?i:my name is|my name's|my names|i am called|i'm called|they call me|call me)\s+)"
    r"(?P<name>[A-Z][a-z]+(?:[- ][A-Z][a-z]+){0,2})\b"
)


def _luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if _luhn_valid(digits) else match.group(0)


def _ipv4(match: re.Match[str]) -> str:
    try:
        ipaddress.IPv4Address(match.group(0))
    except ValueError:
        return match.group(0)
    return "[IP]"


def _ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    if not any(ch.isdigit() or ch in "abcdefABCDEF" for ch in text):
        return text
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return text
    return "[IP]"


def _real_date(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return 1900 <= year <= 2099


def _day_month_year(match: re.Match[str]) -> str:
    raw_year = match["year"]
    if len(raw_year) == 2:
        if match["sep"] != "/":  # 1.2.13 is a version number more often than a date
            return match.group(0)
        year = int(raw_year) + (1900 if int(raw_year) > 30 else 2000)
    else:
        year = int(raw_year)
    a, b = int(match["a"]), int(match["b"])
    return "[DATE]" if _real_date(year, a, b) or _real_date(year, b, a) else match.group(0)


def _year_month_day(match: re.Match[str]) -> str:
    valid = _real_date(int(match["year"]), int(match["m"]), int(match["d"]))
    return "[DATE]" if valid else match.group(0)


def _phones(text: str) -> str:
    """libphonenumber finds numbers in North American and international (+) form; a 7-digit local number
    counts only when written as 555-1234, so that a plain 1000000 stays a number."""
    return _NATIONAL_PHONE.sub(_national_phone, _PHONE_CANDIDATE.sub(_phone_candidate, text))


def _phone_candidate(candidate: re.Match[str]) -> str:
    """The matcher is slow on long texts, so it only sees stretches of digits and separators that hold
    at least seven digits."""
    text = candidate.group(0)
    if sum(ch.isdigit() for ch in text) < 7:
        return text
    spans: list[tuple[int, int]] = []
    for match in PhoneNumberMatcher(text, "US", leniency=Leniency.POSSIBLE):
        raw = match.raw_string
        digits = sum(ch.isdigit() for ch in raw)
        if raw.startswith("+") or digits >= 10 or (digits == 7 and _LOCAL_PHONE.fullmatch(raw)):
            spans.append((match.start, match.end))
    for start, end in reversed(spans):
        text = text[:start] + "[PHONE]" + text[end:]
    return text


def _national_phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = sum(ch.isdigit() for ch in raw)
    if not 9 <= digits <= 15:
        return raw
    if raw.startswith("+"):
        try:
            number = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            return raw
        return "[PHONE]" if phonenumbers.is_possible_number(number) else raw
    return "[PHONE]"


def _name(match: re.Match[str]) -> str:
    return match["intro"] + "[NAME]"


def scrub(text: str) -> str:
    """Decode Reddit's HTML escapes, then replace identifiers with the placeholders of ``PLACEHOLDERS``
    (see the module docstring for the order and docs/ingestion.md for what each one covers)."""
    text = unescape_reddit(text)
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if _SPELLED_EMAIL_HINT.search(text):
        text = _SPELLED_EMAIL.sub(_spelled_email, text)
    if "://" in text or "www." in text or "WWW." in text:
        text = _SCHEME_URL.sub(_scheme_url, text)
    if "." in text:
        text = _BARE_DOMAIN.sub(_bare_domain, text)
    if "/" in text:
        text = _USER.sub("[USER]", text)
        text = _SUBREDDIT.sub("[SUBREDDIT]", text)
    if "@" in text:
        text = _HANDLE.sub("[USER]", text)
    if ":" in text:
        text = _IPV6.sub(_ipv6, text)
    if _HAS_DIGITS.search(text):
        text = _IPV4.sub(_ipv4, text)
        text = _DAY_MONTH_YEAR.sub(_day_month_year, text)
        text = _YEAR_MONTH_DAY.sub(_year_month_day, text)
        text = _WORDY_DATE.sub("[DATE]", text)
        text = _CARD.sub(_card, text)
        text = _SSN.sub("[SSN]", text)
        text = _phones(text)
        text = _LONG_NUMBER.sub("[NUMBER]", text)
        text = _ADDRESS.sub("[ADDRESS]", text)
    lowered = text.lower()
    if "name" in lowered or "call" in lowered:
        text = _NAME_INTRO.sub(_name, text)
    return text
