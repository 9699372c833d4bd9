"""Plain-text and JSON views of instruments for the CLI."""

from __future__ import annotations

import textwrap
from typing import Any

from jedi_academy.instruments.model import Instrument

TEXT_STATUS = {"shipped": "shipped", "imported": "imported", "missing": "not shipped (import it)"}


def instrument_summary(instrument: Instrument) -> dict[str, Any]:
    definition = instrument.definition
    return {
        "id": instrument.id,
        "name": instrument.name,
        "short_name": instrument.short_name,
        "items": len(instrument.items),
        "scored_items": len(instrument.scored_items),
        "range": list(definition.scoring.range),
        "specializations": list(definition.specializations),
        "licence": definition.licence.summary,
        "text_shippable": definition.licence.text_shippable,
        "text": instrument.text_source,
        "citations": [c.model_dump(exclude_none=True) for c in instrument.citations],
    }


def instrument_detail(instrument: Instrument) -> dict[str, Any]:
    """Everything an assessment needs, as JSON: the definition plus resolved, labelled options per item."""
    data = instrument.definition.model_dump(mode="json", exclude_none=True)
    data["text"] = instrument.text_source
    data["instructions"] = instrument.instructions
    data["stem"] = instrument.stem
    data["items"] = [
        {
            "id": item.id,
            "position": item.position,
            "text": item.text,
            "scored": item.scored,
            "optional": item.optional,
            "keying": item.keying,
            "options": [{"code": o.code, "label": o.label, "value": o.value} for o in item.options],
        }
        for item in instrument.items
    ]
    return data


def list_table(instruments: list[Instrument]) -> str:
    rows = [("ID", "NAME", "ITEMS", "FOR", "TEXT", "LICENCE")]
    for instrument in instruments:
        rows.append(
            (
                instrument.id,
                instrument.short_name,
                str(len(instrument.items)),
                ",".join(instrument.definition.specializations),
                TEXT_STATUS[instrument.text_source],
                instrument.licence.summary,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(" ".join(text.split()), width=100, initial_indent=indent, subsequent_indent=indent)


def show_text(instrument: Instrument) -> str:
    d = instrument.definition
    out = [f"{d.short_name}: {d.name} ({d.id})", f"version: {d.version}"]
    out.append("citations:")
    for citation in d.citations:
        ids = ", ".join(
            filter(
                None,
                [
                    f"PMID {citation.pmid}" if citation.pmid else None,
                    f"doi:{citation.doi}" if citation.doi else None,
                ],
            )
        )
        out.append(_wrap(f"{citation.text} {ids}"))
    licence = d.licence
    out.append(f"licence: {licence.summary}{'' if licence.confirmed else ' [terms unconfirmed]'}")
    out.append(_wrap(licence.terms))
    if d.specializations:
        out.append(f"specializations: {', '.join(d.specializations)}")
    if d.recall_period:
        out.append(f"recall period: {d.recall_period}")
    if instrument.instructions:
        out.append("instructions:")
        out.append(_wrap(instrument.instructions))
    if instrument.stem and instrument.stem != instrument.instructions:
        out.append(f"stem: {instrument.stem}")
    if not instrument.text_available:
        out.append(
            f"item text: not shipped (licence); load it with `academy instruments import {d.id} --items FILE`"
        )
    out.append("items:")
    for item in instrument.items:
        flags = [item.keying]
        if item.optional:
            flags.append("optional")
        if item.source_number:
            flags.append(item.source_number)
        text = item.text or ("(forced choice)" if d.format == "forced_choice" else "(text not loaded)")
        out.append(_wrap(f"{item.id}. {text}  [{'; '.join(flags)}]"))
        options = ", ".join(
            f"{o.code}={o.label}" + ("" if o.value == o.code or not item.scored else f" ({o.value:g})")
            for o in item.options
        )
        out.append(_wrap(f"options: {options}", "      "))
    low, high = d.scoring.range
    out.append(
        f"scoring: {d.scoring.method} of scored items, range {low:g}-{high:g}; "
        f"missing: up to {d.scoring.missing.max_missing} prorated"
    )
    if d.bands:
        out.append("bands: " + ", ".join(f"{b.min:g}-{b.max:g} {b.label}" for b in d.bands))
    if d.screening:
        out.append(f"screening cut-off: {d.screening.cutoff:g} or more")
        out.append(_wrap(d.screening.description))
    for subscale in d.subscales:
        out.append(
            f"subscale {subscale.id}: {subscale.name} (items {', '.join(subscale.items)}; {subscale.method})"
        )
    for outcome in d.outcomes:
        out.append(f"outcome {outcome.id}:")
        out.append(_wrap(outcome.description))
    for safety in d.safety:
        out.append(f"safety: item {safety.item} at code {safety.code_at_least} or more")
        out.append(_wrap(safety.reason))
    if d.change:
        c = d.change
        parts = []
        if c.reliability is not None:
            parts.append(f"reliability {c.reliability:g}")
        if c.sd is not None:
            parts.append(f"SD {c.sd:g}")
        if c.fixed_threshold is not None:
            parts.append(f"fixed threshold {c.fixed_threshold:g}")
        if c.caseness_cutoff is not None:
            parts.append(f"caseness {c.caseness_cutoff:g}+")
        out.append("change: " + ", ".join(parts))
    for note in d.notes:
        out.append(_wrap(f"note: {note}", ""))
    return "\n".join(out)
