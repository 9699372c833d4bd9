"""Grounded persona cards: the schema, the system prompt a patient model is given, and (``generate``) their
creation from ingested author bundles."""

from jedi_academy.personas.card import PersonaCard, system_prompt

__all__ = ["PersonaCard", "system_prompt"]
