"""Reading validity reasons back from printed output, for tests of runs on the random tiny model: they
assert a reason is among those given, never the exact list (which gate a random model also trips is
chance; see tests/README.md)."""

from __future__ import annotations

import re

# "INVALID (option_mass, order_sensitivity)" in reports and summaries; "INVALID: option_mass: detail; ..."
# in `academy compare`. Not `academy assess`'s one line per reason, "INVALID (option_mass): detail".
_LISTED = re.compile(r"INVALID \(([a-z_]+(?:, [a-z_]+)*)\)(?!:)")
_DETAILED = re.compile(r"INVALID: (.+)")


def invalid_reason_lists(text: str) -> list[set[str]]:
    """The reason codes of each INVALID mark in ``text``, one set per mark."""
    found = [set(match.group(1).split(", ")) for match in _LISTED.finditer(text)]
    for match in _DETAILED.finditer(text):
        found.append({part.split(":", 1)[0].strip() for part in match.group(1).split("; ")})
    return found


def every_invalid_mark_has(text: str, code: str) -> bool:
    """At least one INVALID mark, and ``code`` among the reasons of each."""
    marks = invalid_reason_lists(text)
    return bool(marks) and all(code in reasons for reasons in marks)
