"""Cross-checks of an instrument definition: every rule that relates one part of the file to another.

Each problem comes back with the path of the offending value, e.g. ``('subscales', 1, 'items', 2)``, so the
YAML loader can report the line it sits on.
"""

from __future__ import annotations

from collections.abc import Iterator

from jedi_academy.instruments.keys import item_options, option_set_name, scored_value
from jedi_academy.instruments.schema import (
    AllRule,
    AnyRule,
    CountRule,
    InstrumentDefinition,
    ItemDef,
    Rule,
    SubscaleRule,
    TotalRule,
)

Path = tuple[str | int, ...]
Problem = tuple[Path, str]


def definition_problems(definition: InstrumentDefinition) -> list[Problem]:
    """All cross-check problems, in file order as far as possible; empty when the definition is sound."""
    problems = list(_option_sets(definition)) + list(_items(definition))
    # Score-range checks depend on sound items and option sets; skip them rather than report knock-on errors.
    value_checks = () if problems else (_score_range, _bands, _screening, _change)
    for check in (_text_against_licence, *value_checks, _subscales, _outcomes, _safety):
        problems.extend(check(definition))
    return problems


def _codes(definition: InstrumentDefinition, item: ItemDef) -> list[int]:
    return [option.code for option in item_options(definition, item) or []]


def _value_range(definition: InstrumentDefinition, item: ItemDef) -> tuple[float, float]:
    codes = _codes(definition, item)
    values = [scored_value(item, code, codes) for code in codes]
    return min(values), max(values)


def _option_sets(definition: InstrumentDefinition) -> Iterator[Problem]:
    for name, options in definition.option_sets.items():
        codes = [option.code for option in options]
        labels = [option.label for option in options]
        if not options:
            yield ("option_sets", name), "an option set needs at least one option"
        if len(set(codes)) != len(codes):
            yield ("option_sets", name), f"option set '{name}' repeats a code"
        if len(set(labels)) != len(labels):
            yield ("option_sets", name), f"option set '{name}' repeats a label"
        if definition.format == "forced_choice" and codes != [1, 2]:
            yield ("option_sets", name), "a forced-choice option set has exactly the codes 1 and 2"
    if definition.default_options is not None and definition.default_options not in definition.option_sets:
        yield ("default_options",), f"no option set named '{definition.default_options}'"


def _items(definition: InstrumentDefinition) -> Iterator[Problem]:
    seen: set[str] = set()
    optional_started = False
    for index, item in enumerate(definition.items):
        path: Path = ("items", index)
        if item.id in seen:
            yield (*path, "id"), f"item id '{item.id}' is used twice"
        seen.add(item.id)
        name = option_set_name(definition, item)
        if name is None:
            yield path, f"item {item.id} has no options and the file sets no default_options"
            continue
        if name not in definition.option_sets:
            yield (*path, "options"), f"item {item.id}: no option set named '{name}'"
            continue
        codes = _codes(definition, item)
        if item.keyed is not None:
            stray = [code for code in item.keyed if code not in codes]
            if stray:
                yield (
                    (*path, "keyed"),
                    f"item {item.id}: keyed code(s) {stray} are not among its codes {codes}",
                )
            elif len(item.keyed) == len(codes):
                yield (
                    (*path, "keyed"),
                    f"item {item.id}: every code is keyed, so the item cannot discriminate",
                )
        if item.values is not None and sorted(item.values) != sorted(codes):
            yield (*path, "values"), f"item {item.id}: values must give one value for each code {codes}"
        if item.reverse and sorted(min(codes) + max(codes) - code for code in codes) != sorted(codes):
            yield (
                (*path, "reverse"),
                f"item {item.id}: codes {codes} are not symmetric, so cannot be reversed",
            )
        if definition.format == "rating" and item.pair is not None:
            yield (*path, "pair"), f"item {item.id}: 'pair' belongs to forced-choice instruments; use 'text'"
        if definition.format == "forced_choice" and item.text is not None:
            yield (*path, "text"), f"item {item.id}: a forced-choice item carries its statements in 'pair'"
        if item.optional:
            optional_started = True
        elif optional_started:
            yield path, f"item {item.id}: required items cannot follow optional ones (answers are positional)"
    if not any(item.scored for item in definition.items):
        yield ("items",), "no item is scored"


def _text_against_licence(definition: InstrumentDefinition) -> Iterator[Problem]:
    shippable = definition.licence.text_shippable
    for index, item in enumerate(definition.items):
        field = "pair" if definition.format == "forced_choice" else "text"
        present = getattr(item, field) is not None
        if shippable and not present:
            yield ("items", index), f"item {item.id}: the licence lets the text ship, so give its '{field}'"
        if not shippable and present:
            yield (
                ("items", index, field),
                f"item {item.id}: licence.text_shippable is false, so the item text must not be in this file "
                "(users load it with `academy instruments import`)",
            )
    if not shippable:
        for field in ("instructions", "stem"):
            if getattr(definition, field) is not None:
                yield (field,), f"licence.text_shippable is false, so '{field}' must not be in this file"


def total_range(definition: InstrumentDefinition) -> tuple[float, float]:
    """The lowest and highest possible total, from the items' scored values."""
    scored = [item for item in definition.items if item.scored and item_options(definition, item)]
    if not scored:
        return 0.0, 0.0
    low = sum(_value_range(definition, item)[0] for item in scored)
    high = sum(_value_range(definition, item)[1] for item in scored)
    if definition.scoring.method == "mean":
        return low / len(scored), high / len(scored)
    return low, high


def _items_resolve(definition: InstrumentDefinition) -> bool:
    return all(item_options(definition, item) for item in definition.items)


def _score_range(definition: InstrumentDefinition) -> Iterator[Problem]:
    if not _items_resolve(definition):
        return
    low, high = total_range(definition)
    declared = definition.scoring.range
    if (low, high) != (float(declared[0]), float(declared[1])):
        yield (
            ("scoring", "range"),
            f"declared range {_num(declared[0])}-{_num(declared[1])}, "
            f"but the items give {_num(low)}-{_num(high)}",
        )
    scored = sum(1 for item in definition.items if item.scored)
    if definition.scoring.missing.max_missing >= scored:
        yield ("scoring", "missing", "max_missing"), f"must be below the number of scored items ({scored})"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _integer_totals(definition: InstrumentDefinition) -> bool:
    if definition.scoring.method != "sum":
        return False
    for item in definition.items:
        if item.scored:
            codes = _codes(definition, item)
            if not all(float(scored_value(item, code, codes)).is_integer() for code in codes):
                return False
    return True


def _bands(definition: InstrumentDefinition) -> Iterator[Problem]:
    if not definition.bands or not _items_resolve(definition):
        return
    if not _integer_totals(definition):
        yield ("bands",), "bands need a summed total of whole-number item values"
        return
    low, high = definition.scoring.range
    labels: set[str] = set()
    expected = float(low)
    for index, band in enumerate(definition.bands):
        if band.label in labels:
            yield ("bands", index, "label"), f"band label '{band.label}' is used twice"
        labels.add(band.label)
        if not (float(band.min).is_integer() and float(band.max).is_integer()):
            yield ("bands", index), f"band '{band.label}' needs whole-number bounds"
        if band.min != expected:
            where = "start at the lowest total" if index == 0 else "start one above the previous band's max"
            yield (
                ("bands", index, "min"),
                f"band '{band.label}' starts at {_num(band.min)}; bands must {where} ({_num(expected)})",
            )
        expected = band.max + 1
    if definition.bands[-1].max != high:
        yield (
            ("bands", len(definition.bands) - 1, "max"),
            f"the last band ends at {_num(definition.bands[-1].max)}, not at the highest total {_num(high)}",
        )


def _screening(definition: InstrumentDefinition) -> Iterator[Problem]:
    screening = definition.screening
    low, high = definition.scoring.range
    if screening is not None and not low < screening.cutoff <= high:
        yield (
            ("screening", "cutoff"),
            f"cut-off {_num(screening.cutoff)} lies outside the score range {_num(low)}-{_num(high)}",
        )


def _subscales(definition: InstrumentDefinition) -> Iterator[Problem]:
    by_id = {item.id: item for item in definition.items}
    seen: set[str] = set()
    for index, subscale in enumerate(definition.subscales):
        if subscale.id in seen:
            yield ("subscales", index, "id"), f"subscale id '{subscale.id}' is used twice"
        seen.add(subscale.id)
        if len(set(subscale.items)) != len(subscale.items):
            yield ("subscales", index, "items"), f"subscale '{subscale.id}' lists an item twice"
        for position, item_id in enumerate(subscale.items):
            item = by_id.get(item_id)
            if item is None:
                yield (
                    ("subscales", index, "items", position),
                    f"subscale '{subscale.id}': no item '{item_id}'",
                )
            elif not item.scored:
                yield (
                    ("subscales", index, "items", position),
                    f"subscale '{subscale.id}': item {item_id} is not scored",
                )


def _outcomes(definition: InstrumentDefinition) -> Iterator[Problem]:
    seen: set[str] = set()
    for index, outcome in enumerate(definition.outcomes):
        if outcome.id in seen:
            yield ("outcomes", index, "id"), f"outcome id '{outcome.id}' is used twice"
        seen.add(outcome.id)
        yield from _rule(definition, outcome.rule, ("outcomes", index, "rule"))


def _rule(definition: InstrumentDefinition, rule: Rule, path: Path) -> Iterator[Problem]:
    by_id = {item.id: item for item in definition.items}
    if isinstance(rule, AllRule | AnyRule):
        key = "all" if isinstance(rule, AllRule) else "any"
        for index, inner in enumerate(rule.all if isinstance(rule, AllRule) else rule.any):
            yield from _rule(definition, inner, (*path, key, index))
    elif isinstance(rule, CountRule):
        for position, item_id in enumerate(rule.count_items):
            item = by_id.get(item_id)
            if item is None:
                yield (*path, "count_items", position), f"no item '{item_id}'"
            elif rule.code_at_least not in _codes(definition, item):
                yield (
                    (*path, "code_at_least"),
                    f"code {rule.code_at_least} is not an answer to item {item_id}",
                )
        if rule.at_least > len(rule.count_items):
            yield (*path, "at_least"), f"at_least {rule.at_least} exceeds the {len(rule.count_items)} items"
    elif isinstance(rule, SubscaleRule):
        if rule.subscale not in {subscale.id for subscale in definition.subscales}:
            yield (*path, "subscale"), f"no subscale '{rule.subscale}'"
    elif isinstance(rule, TotalRule):
        low, high = definition.scoring.range
        if not low < rule.total_at_least <= high:
            yield (
                (*path, "total_at_least"),
                f"{_num(rule.total_at_least)} is outside {_num(low)}-{_num(high)}",
            )


def _safety(definition: InstrumentDefinition) -> Iterator[Problem]:
    by_id = {item.id: item for item in definition.items}
    for index, safety in enumerate(definition.safety):
        item = by_id.get(safety.item)
        if item is None:
            yield ("safety", index, "item"), f"no item '{safety.item}'"
        elif safety.code_at_least not in _codes(definition, item):
            yield (
                ("safety", index, "code_at_least"),
                f"code {safety.code_at_least} is not an answer to item {safety.item}",
            )


def _change(definition: InstrumentDefinition) -> Iterator[Problem]:
    change = definition.change
    if change is None:
        return
    low, high = definition.scoring.range
    if change.caseness_cutoff is not None and not low < change.caseness_cutoff <= high:
        yield (
            ("change", "caseness_cutoff"),
            f"{_num(change.caseness_cutoff)} is outside {_num(low)}-{_num(high)}",
        )
    if change.fixed_threshold is not None and change.fixed_threshold > high - low:
        yield ("change", "fixed_threshold"), "larger than the whole score range"
