"""PubMed query building (specialization -> MeSH-based search) and spotting instruments named in abstracts."""

from __future__ import annotations

import functools
import re

from jedi_academy.errors import AcademyError

# MeSH descriptors per specialization; the specializations package is not imported so this stage stands alone.
SPECIALIZATION_MESH: dict[str, tuple[str, ...]] = {
    "autism": ("Autism Spectrum Disorder",),
    "narcissism": ("Narcissism",),
    "depression": ("Depression", "Depressive Disorder"),
    "anxiety": ("Anxiety Disorders", "Anxiety"),
    "ptsd": ("Stress Disorders, Post-Traumatic",),
    "adhd": ("Attention Deficit Disorder with Hyperactivity",),
}

INSTRUMENT_WORDS = (
    "questionnaire",
    "scale",
    "inventory",
    "checklist",
    "screening",
    "quotient",
    "self-report",
)
VALIDATION_FILTER = (
    '"Psychometrics"[MeSH] OR "Sensitivity and Specificity"[MeSH] OR "Reproducibility of Results"[MeSH] '
    'OR "Validation Study"[pt]'
)

REVIEW_FILTER = '"Review"[pt] OR "Systematic Review"[pt] OR "Meta-Analysis"[pt]'

# Placeholders a specialization's query templates may use (its YAML ``pubmed.queries``).
QUERY_PLACEHOLDERS = ("condition", "instrument_words", "validation", "reviews")

# Instruments that are not shipped but often appear next to the shipped ones (id -> names used in papers).
OTHER_INSTRUMENTS: dict[str, tuple[str, ...]] = {
    "phq-2": ("PHQ-2", "Patient Health Questionnaire-2"),
    "gad-2": ("GAD-2",),
    "bdi-ii": ("BDI-II", "Beck Depression Inventory-II", "Beck Depression Inventory II"),
    "hads": ("HADS", "Hospital Anxiety and Depression Scale"),
    "epds": ("EPDS", "Edinburgh Postnatal Depression Scale"),
    "aq-50": ("AQ-50", "Autism Spectrum Quotient", "Autism-Spectrum Quotient"),
    "raads-r": ("RAADS-R", "Ritvo Autism Asperger Diagnostic Scale-Revised"),
    "npi-40": ("NPI-40", "Narcissistic Personality Inventory"),
    "pni": ("Pathological Narcissism Inventory",),
    "caps-5": ("CAPS-5", "Clinician-Administered PTSD Scale for DSM-5"),
    "pcl-iv": ("PCL-C", "PCL-M", "PCL-S"),
    "caars": ("CAARS", "Conners' Adult ADHD Rating Scales"),
    "wurs": ("WURS", "Wender Utah Rating Scale"),
}


# Display (name, acronym) of those instruments; the shipped ones take theirs from their definitions.
OTHER_DISPLAY: dict[str, tuple[str, str]] = {
    "phq-2": ("Patient Health Questionnaire-2", "PHQ-2"),
    "gad-2": ("Generalized Anxiety Disorder 2-item scale", "GAD-2"),
    "bdi-ii": ("Beck Depression Inventory-II", "BDI-II"),
    "hads": ("Hospital Anxiety and Depression Scale", "HADS"),
    "epds": ("Edinburgh Postnatal Depression Scale", "EPDS"),
    "aq-50": ("Autism Spectrum Quotient", "AQ-50"),
    "raads-r": ("Ritvo Autism Asperger Diagnostic Scale-Revised", "RAADS-R"),
    "npi-40": ("Narcissistic Personality Inventory", "NPI-40"),
    "pni": ("Pathological Narcissism Inventory", "PNI"),
    "caps-5": ("Clinician-Administered PTSD Scale for DSM-5", "CAPS-5"),
    "pcl-iv": ("PTSD Checklist (DSM-IV versions)", "PCL"),
    "caars": ("Conners' Adult ADHD Rating Scales", "CAARS"),
    "wurs": ("Wender Utah Rating Scale", "WURS"),
}


def instrument_words_term() -> str:
    return " OR ".join(f"{word}[tiab]" if word.isalpha() else f'"{word}"[tiab]' for word in INSTRUMENT_WORDS)


def expand_template(template: str, condition: str) -> str:
    """A specialization's query template with its placeholders filled in (unknown ones are an error)."""
    values = {
        "condition": condition,
        "instrument_words": instrument_words_term(),
        "validation": VALIDATION_FILTER,
        "reviews": REVIEW_FILTER,
    }
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise AcademyError(
            f"PubMed query template {template!r}: bad placeholder {exc}",
            f"use {{{'}, {'.join(QUERY_PLACEHOLDERS)}}}",
        ) from None


def build_query(specialization: str) -> str:
    """The E-utilities search term for validation studies of screening instruments for ``specialization``."""
    mesh = SPECIALIZATION_MESH.get(specialization)
    if mesh is None:
        raise AcademyError(
            f"no PubMed query for specialization '{specialization}'",
            f"choose one of {', '.join(SPECIALIZATION_MESH)} or pass --query",
        )
    from jedi_academy.instruments.api import instruments_for_specialization
    from jedi_academy.instruments.loading import packaged_definition

    condition = " OR ".join(f'"{term}"[MeSH]' for term in mesh)
    names = [packaged_definition(i).short_name for i in instruments_for_specialization(specialization)]
    words = [f'"{name}"[tiab]' for name in names]
    named = " OR ".join([*words, instrument_words_term()])
    return f"({condition}) AND ({named}) AND ({VALIDATION_FILTER}) AND humans[MeSH]"


_SEPARATORS = r"[\s\-‐‑–.]*"


def _alias_pattern(alias: str) -> str:
    tokens = re.findall(r"[A-Za-z0-9']+", alias)
    body = _SEPARATORS.join(re.escape(token) for token in tokens)
    # A name ending in a letter must not be the stem of a numbered short form ("Autism Spectrum Quotient-10").
    tail = r"(?![\s\-‐‑–.]*\d)" if alias[-1].isalpha() else ""
    return rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9]){tail}"


@functools.cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    from jedi_academy.instruments.loading import instrument_ids, packaged_definition

    table: dict[str, tuple[str, ...]] = {
        i: tuple(packaged_definition(i).aliases) or (packaged_definition(i).short_name,)
        for i in instrument_ids()
    }
    table.update(OTHER_INSTRUMENTS)
    return tuple(
        (instrument_id, re.compile("|".join(_alias_pattern(alias) for alias in aliases), re.IGNORECASE))
        for instrument_id, aliases in table.items()
    )


def instruments_named(text: str) -> list[str]:
    """Ids of the known instruments that ``text`` names, shipped ones first, each once."""
    return [instrument_id for instrument_id, pattern in _patterns() if pattern.search(text)]
