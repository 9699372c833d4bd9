"""How one questionnaire item is put to a model: in character (the persona card as system prompt), one item
per prompt, no earlier answers in context, options numbered in the order of the variant being asked.

Every item is asked under every cyclic shift of its options (shift k lists option k first and wraps around),
so each option appears once at every position and a preference for a position cannot move the average."""

from __future__ import annotations

from dataclasses import dataclass

from jedi_academy.errors import AcademyError
from jedi_academy.instruments.model import Instrument, Item

# assess-1 asked two orders (as printed, reversed) and scored labels without an end marker; assess-2 asked the
# instrument's items alone; assess-3 mixes attention items (data/attention.yaml) among them
PROMPT_VERSION = "assess-3"


@dataclass(frozen=True)
class ItemPrompt:
    item_id: str
    order: str
    messages: list[dict[str, str]]
    codes_by_label: dict[str, int]  # "1" -> option code, in the order shown


def orders(item: Item) -> list[str]:
    """The names of the cyclic shifts of an item's options: ``shift-0`` is the order as printed."""
    return [f"shift-{k}" for k in range(len(item.options))]


def option_codes(item: Item, order: str) -> list[int]:
    codes = [option.code for option in item.options]
    shift = int(order.removeprefix("shift-"))
    return codes[shift:] + codes[:shift]


def item_prompt(instrument: Instrument, item: Item, order: str, persona_prompt: str | None) -> ItemPrompt:
    require_text(instrument)
    codes = option_codes(item, order)
    lines: list[str] = []
    if instrument.instructions:
        lines.append(instrument.instructions)
    if instrument.recall_period:
        lines.append(f"Time frame: {instrument.recall_period}.")
    if item.text is not None:
        lines.append("")
        # an attention item is a whole question of its own: the instrument's stem would not fit it
        stem = instrument.stem if item.keying != "attention" else None
        lines.append(f"{stem} {item.text}".strip() if stem else item.text)
    else:
        lines.append("")
        lines.append("Which statement describes you better?")
    lines.append("")
    lines.append("Options:")
    for label, code in enumerate(codes, start=1):
        lines.append(f"{label}. {item.option(code).label}")
    lines.append("")
    lines.append("Reply with the number of the option that fits you best.")
    messages = [{"role": "system", "content": persona_prompt}] if persona_prompt else []
    messages.append({"role": "user", "content": "\n".join(lines)})
    return ItemPrompt(
        item.id, order, messages, {str(label): code for label, code in enumerate(codes, start=1)}
    )


def require_text(instrument: Instrument) -> None:
    if not instrument.text_available:
        raise AcademyError(
            f"the item text of {instrument.id} is not shipped ({instrument.licence.summary})",
            f"import it from a copy you may use: `academy instruments import {instrument.id} --items FILE`",
        )


def askable_items(instrument: Instrument) -> list[Item]:
    """The items that are put to the respondent: those with options (all of them, scored or not)."""
    return [item for item in instrument.items if item.options]
