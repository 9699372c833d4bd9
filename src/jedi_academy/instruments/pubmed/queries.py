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
    words += [f"{word}[tiab]" if word.isalpha() else f'"{word}"[tiab]' for word in INSTRUMENT_WORDS]
    return f"({condition}) AND ({' OR '.join(words)}) AND ({VALIDATION_FILTER}) AND humans[MeSH]"


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
