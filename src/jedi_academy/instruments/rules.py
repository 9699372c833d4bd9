"""Three-valued evaluation of outcome rules: True, False, or None when missing answers leave it open.

A rule is decided whenever the answers given settle it either way (e.g. the PCL-5 cluster rule fails if a
cluster cannot reach its count even with every missing item endorsed); otherwise the result is None.
"""

from __future__ import annotations

from collections.abc import Mapping

from jedi_academy.instruments.schema import AllRule, AnyRule, CountRule, Rule, SubscaleRule, TotalRule


def evaluate(
    rule: Rule,
    codes: Mapping[str, int | None],
    total: float | None,
    subscales: Mapping[str, float | None],
) -> bool | None:
    if isinstance(rule, AllRule):
        results = [evaluate(inner, codes, total, subscales) for inner in rule.all]
        if any(result is False for result in results):
            return False
        return True if all(result is True for result in results) else None
    if isinstance(rule, AnyRule):
        results = [evaluate(inner, codes, total, subscales) for inner in rule.any]
        if any(result is True for result in results):
            return True
        return False if all(result is False for result in results) else None
    if isinstance(rule, CountRule):
        answers = [codes.get(item_id) for item_id in rule.count_items]
        met = sum(1 for code in answers if code is not None and code >= rule.code_at_least)
        unknown = sum(1 for code in answers if code is None)
        if met >= rule.at_least:
            return True
        return False if met + unknown < rule.at_least else None
    if isinstance(rule, TotalRule):
        return None if total is None else total >= rule.total_at_least
    if isinstance(rule, SubscaleRule):
        value = subscales.get(rule.subscale)
        return None if value is None else value >= rule.at_least
    raise TypeError(f"unknown rule {rule!r}")
