"""How an item's answer code becomes its scored value (shared by the cross-checks and the runtime model)."""

from __future__ import annotations

from jedi_academy.instruments.schema import InstrumentDefinition, ItemDef, ResponseOption


def option_set_name(definition: InstrumentDefinition, item: ItemDef) -> str | None:
    return item.options or definition.default_options


def item_options(definition: InstrumentDefinition, item: ItemDef) -> list[ResponseOption] | None:
    """The item's response options, or None when it names an option set that does not exist."""
    name = option_set_name(definition, item)
    return definition.option_sets.get(name) if name else None


def scored_value(item: ItemDef, code: int, codes: list[int]) -> float:
    """The value an answer contributes to the total; ``codes`` are all the codes the item accepts.

    - ``values``: an explicit code -> value table;
    - ``keyed``: 1 when the code is one of the keyed codes, else 0 (dichotomous keys such as AQ-10, NPI);
    - ``reverse``: the code mirrored within its range (min + max - code);
    - otherwise the code itself.
    """
    if item.values is not None:
        return item.values[code]
    if item.keyed is not None:
        return 1.0 if code in item.keyed else 0.0
    if item.reverse:
        return float(min(codes) + max(codes) - code)
    return float(code)
