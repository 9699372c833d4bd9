"""The runtime view of an instrument: items with resolved, labelled options and their scored values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from jedi_academy.instruments.keys import item_options, scored_value
from jedi_academy.instruments.schema import (
    ChangeSpec,
    Citation,
    InstrumentDefinition,
    ItemDef,
    Licence,
)

TextSource = Literal["shipped", "imported", "missing"]


@dataclass(frozen=True)
class Option:
    """One answer to an item: the ``code`` a respondent gives, its ``label`` and the ``value`` it scores."""

    code: int
    label: str
    value: float


@dataclass(frozen=True)
class Item:
    id: str
    position: int  # 1-based place in the form; answers are given in this order
    # None when the licence keeps the text out and none has been imported; forced-choice items have no
    # text of their own: their two statements are the option labels.
    text: str | None
    options: tuple[Option, ...]
    scored: bool
    optional: bool
    keying: str  # human-readable: "as coded", "reverse", "keyed: 0, 1", "values"
    source_number: str | None = None

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(option.code for option in self.options)

    def option(self, code: int) -> Option:
        for option in self.options:
            if option.code == code:
                return option
        raise KeyError(code)

    def value_of(self, code: int) -> float:
        return self.option(code).value


@dataclass(frozen=True)
class ImportedText:
    """User-supplied wording for an instrument whose licence keeps the text out of the package."""

    instructions: str | None
    stem: str | None
    items: dict[str, str | tuple[str, str]]
    source: str | None = None


@dataclass(frozen=True)
class Instrument:
    definition: InstrumentDefinition
    items: tuple[Item, ...]
    instructions: str | None
    stem: str | None
    text_source: TextSource

    @property
    def id(self) -> str:
        return self.definition.id

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def short_name(self) -> str:
        return self.definition.short_name

    @property
    def citations(self) -> list[Citation]:
        return self.definition.citations

    @property
    def licence(self) -> Licence:
        return self.definition.licence

    @property
    def recall_period(self) -> str | None:
        return self.definition.recall_period

    @property
    def change(self) -> ChangeSpec | None:
        return self.definition.change

    @property
    def text_available(self) -> bool:
        return self.text_source != "missing"

    @property
    def scored_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.scored)

    @property
    def required_count(self) -> int:
        """How many answers must be given (trailing optional items may be left off)."""
        return sum(1 for item in self.items if not item.optional)

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def _keying(item: ItemDef) -> str:
    if item.values is not None:
        return "values " + ", ".join(f"{code}->{value:g}" for code, value in item.values.items())
    if item.keyed is not None:
        return "keyed: " + ", ".join(str(code) for code in item.keyed)
    if item.reverse:
        return "reverse"
    return "as coded" if item.scored else "not scored"


def build_instrument(definition: InstrumentDefinition, imported: ImportedText | None = None) -> Instrument:
    """Resolve option sets and keys; imported text fills (or replaces) the wording."""
    items = []
    for position, item_def in enumerate(definition.items, start=1):
        options = item_options(definition, item_def) or []
        codes = [option.code for option in options]
        supplied = imported.items.get(item_def.id) if imported else None
        pair = supplied if isinstance(supplied, tuple) else item_def.pair
        text = supplied if isinstance(supplied, str) else item_def.text
        resolved = []
        for index, option in enumerate(options):
            label = pair[index] if pair is not None and index < len(pair) else option.label
            value = scored_value(item_def, option.code, codes) if item_def.scored else float(option.code)
            resolved.append(Option(option.code, label, value))
        items.append(
            Item(
                id=item_def.id,
                position=position,
                text=text,
                options=tuple(resolved),
                scored=item_def.scored,
                optional=item_def.optional,
                keying=_keying(item_def),
                source_number=item_def.source_number,
            )
        )
    if imported is not None:
        source: TextSource = "imported"
    else:
        source = "shipped" if definition.licence.text_shippable else "missing"
    return Instrument(
        definition=definition,
        items=tuple(items),
        instructions=(
            imported.instructions if imported and imported.instructions else definition.instructions
        ),
        stem=(imported.stem if imported and imported.stem else definition.stem),
        text_source=source,
    )
