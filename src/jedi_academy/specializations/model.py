"""The shape of a specialization definition (one YAML file each)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

ID_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
# Reddit names are letters, digits and underscores (3-21 characters; a few early ones are 2).
SUBREDDIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")


class PubMedSearch(BaseModel):
    """How ``academy instruments discover`` searches PubMed for this specialization's instruments.

    ``condition`` is the MeSH part; each query is a template whose placeholders are filled in at search
    time: ``{condition}``, ``{instrument_words}`` (questionnaire, scale, ... in title/abstract),
    ``{validation}`` (psychometrics, sensitivity and specificity, validation studies) and ``{reviews}``
    (reviews, meta-analyses).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    condition: str = Field(min_length=1)
    queries: tuple[str, ...] = Field(min_length=1)

    @field_validator("queries")
    @classmethod
    def _known_placeholders(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from string import Formatter

        from jedi_academy.instruments.pubmed.queries import QUERY_PLACEHOLDERS

        for template in value:
            try:
                names = {name for _, name, _, _ in Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ValueError(f"{template!r}: {exc}") from None
            unknown = sorted(names - set(QUERY_PLACEHOLDERS))
            if unknown:
                raise ValueError(
                    f"unknown placeholder {{{unknown[0]}}} in {template!r}; "
                    f"use {', '.join('{' + name + '}' for name in QUERY_PLACEHOLDERS)}"
                )
        return value


class Specialization(BaseModel):
    """A clinical focus area: where its Reddit data comes from and which questionnaires measure it."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    display_name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1)
    subreddits: tuple[str, ...] = Field(min_length=1)
    instruments: tuple[str, ...] = Field(min_length=1)
    persona_guidance: str = Field(min_length=1)
    pubmed: PubMedSearch | None = None

    _source: str = PrivateAttr(default="")

    @field_validator("subreddits", mode="before")
    @classmethod
    def _strip_prefix(cls, value: Any) -> Any:
        """Accept ``r/ADHD`` and ``/r/ADHD`` as well as ``ADHD``."""
        if isinstance(value, list | tuple):
            return [
                v.strip().removeprefix("/").removeprefix("r/") if isinstance(v, str) else v for v in value
            ]
        return value

    @field_validator("subreddits")
    @classmethod
    def _valid_subreddits(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in value:
            if not SUBREDDIT_RE.match(name):
                raise ValueError(
                    f"{name!r} is not a subreddit name (letters, digits, underscores; 2-21 chars)"
                )
            if name.lower() in seen:
                raise ValueError(f"subreddit {name!r} is listed twice (names are case-insensitive)")
            seen.add(name.lower())
        return value

    @field_validator("instruments")
    @classmethod
    def _known_instruments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from jedi_academy.specializations.known_instruments import known_instrument_ids

        known = known_instrument_ids()
        unknown = [i for i in value if i not in known]
        if unknown:
            raise ValueError(
                f"unknown instrument id(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        if len(set(value)) != len(value):
            raise ValueError("an instrument is listed twice")
        return value

    @property
    def source(self) -> str:
        """Where the definition was read from ("package" or a file path)."""
        return self._source

    @property
    def subreddit_keys(self) -> frozenset[str]:
        """Lower-case subreddit names, for case-insensitive matching."""
        return frozenset(name.lower() for name in self.subreddits)

    def definition(self) -> dict[str, Any]:
        """The definition as plain JSON data (what the database stores)."""
        return self.model_dump(mode="json")
