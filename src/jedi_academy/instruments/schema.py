"""The pydantic schema of an instrument definition file (one YAML document per instrument).

Field-level rules live here; rules that relate one part of the file to another (an item id used by a
subscale, bands covering the score range, ...) live in :mod:`jedi_academy.instruments.checks`, which reports
each problem with its own path so the loader can point at the right YAML line.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    model_validator,
)

SCHEMA_VERSION: Final = 1
DEFER_CHECKS = "defer_checks"  # validation-context flag: the loader runs the cross-checks itself


def _int_to_str(value: Any) -> Any:
    # YAML reads `id: 9` as an integer; item ids are strings so that "9" and 9 are the same item.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
ItemId = Annotated[str, BeforeValidator(_int_to_str), Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Key = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Text = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Model):
    text: Text
    pmid: Annotated[str | None, BeforeValidator(_int_to_str), Field(pattern=r"^[1-9][0-9]*$")] = None
    doi: Annotated[str | None, Field(pattern=r"^10\.\d{4,9}/\S+$")] = None
    note: str | None = None

    @model_validator(mode="after")
    def _identified(self) -> Citation:
        if self.pmid is None and self.doi is None:
            raise ValueError("a citation needs a pmid or a doi")
        return self


class Licence(_Model):
    summary: Text
    holder: str | None = None
    text_shippable: bool
    commercial_use: Literal["free", "not allowed", "licence required", "unconfirmed"]
    terms: Text
    url: str | None = None
    confirmed: bool = Field(description="terms checked against the rights holder's own statement")


class ResponseOption(_Model):
    code: int
    label: Text


class ItemDef(_Model):
    id: ItemId
    text: Text | None = None
    pair: tuple[Text, Text] | None = None
    options: str | None = None
    scored: bool = True
    optional: bool = False
    reverse: bool = False
    keyed: list[int] | None = Field(default=None, min_length=1)
    values: dict[int, float] | None = None
    source_number: str | None = None
    note: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ItemDef:
        keys = [name for name in ("reverse", "keyed", "values") if getattr(self, name) not in (None, False)]
        if len(keys) > 1:
            raise ValueError(f"give at most one of reverse, keyed, values (found {', '.join(keys)})")
        if keys and not self.scored:
            raise ValueError(f"an unscored item cannot have '{keys[0]}'")
        if self.optional and self.scored:
            raise ValueError("only unscored items can be optional")
        if self.keyed is not None and len(set(self.keyed)) != len(self.keyed):
            raise ValueError("keyed codes repeat")
        return self


class Band(_Model):
    label: Text
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.min > self.max:
            raise ValueError(f"band '{self.label}' has min {self.min} above max {self.max}")
        return self


class Screening(_Model):
    cutoff: float = Field(description="positive when the total is at least this")
    description: Text
    source: str | None = None


class Subscale(_Model):
    id: Key
    name: Text
    items: list[ItemId] = Field(min_length=1)
    method: Literal["sum", "mean"] = "sum"
    use: Literal["scored", "raw"] = "scored"


class CountRule(_Model):
    count_items: list[ItemId] = Field(min_length=1)
    code_at_least: int
    at_least: int = Field(ge=1)


class TotalRule(_Model):
    total_at_least: float


class SubscaleRule(_Model):
    subscale: Key
    at_least: float


class AllRule(_Model):
    all: list[Rule] = Field(min_length=1)


class AnyRule(_Model):
    any: list[Rule] = Field(min_length=1)


_RULE_TAGS = {
    "all": "all-rule",
    "any": "any-rule",
    "count_items": "count-rule",
    "total_at_least": "total-rule",
    "subscale": "subscale-rule",
}


def _rule_tag(value: Any) -> str | None:
    keys = (
        value.keys() if isinstance(value, dict) else vars(value).keys() if isinstance(value, _Model) else ()
    )
    for key, tag in _RULE_TAGS.items():
        if key in keys:
            return tag
    return None


Rule = Annotated[
    Annotated[AllRule, Tag("all-rule")]
    | Annotated[AnyRule, Tag("any-rule")]
    | Annotated[CountRule, Tag("count-rule")]
    | Annotated[TotalRule, Tag("total-rule")]
    | Annotated[SubscaleRule, Tag("subscale-rule")],
    Discriminator(
        _rule_tag,
        custom_error_type="rule_kind",
        custom_error_message="a rule needs one of: all, any, count_items, total_at_least, subscale",
    ),
]
AllRule.model_rebuild()
AnyRule.model_rebuild()


class Outcome(_Model):
    id: Key
    description: Text
    rule: Rule
    source: str | None = None


class SafetyItem(_Model):
    item: ItemId
    code_at_least: int
    reason: Text


class MissingRule(_Model):
    max_missing: int = Field(default=0, ge=0)
    method: Literal["prorate"] = "prorate"
    note: str | None = None


class Scoring(_Model):
    method: Literal["sum", "mean"] = "sum"
    range: tuple[float, float]
    missing: MissingRule = MissingRule()


class ChangeSpec(_Model):
    higher_is_worse: bool = True
    reliability: float | None = Field(default=None, gt=0, lt=1)
    reliability_source: str | None = None
    sd: float | None = Field(default=None, gt=0)
    sd_source: str | None = None
    fixed_threshold: float | None = Field(default=None, gt=0)
    fixed_threshold_source: str | None = None
    caseness_cutoff: float | None = None
    caseness_source: str | None = None

    @model_validator(mode="after")
    def _sourced(self) -> ChangeSpec:
        for name in ("reliability", "sd", "fixed_threshold", "caseness"):
            value = getattr(self, "caseness_cutoff" if name == "caseness" else name)
            if value is not None and not getattr(self, f"{name}_source"):
                raise ValueError(
                    f"'{name}_source' is required when a value is given (say where it comes from)"
                )
        return self


class InstrumentDefinition(_Model):
    schema_version: Literal[1] = SCHEMA_VERSION
    id: Slug
    name: Text
    short_name: Text
    version: Text
    specializations: list[Slug] = []
    aliases: list[Text] = []
    citations: list[Citation] = Field(min_length=1)
    licence: Licence
    instructions: Text | None = None
    stem: Text | None = None
    recall_period: Text | None = None
    format: Literal["rating", "forced_choice"] = "rating"
    option_sets: dict[Slug, list[ResponseOption]] = Field(min_length=1)
    default_options: Slug | None = None
    items: list[ItemDef] = Field(min_length=1)
    scoring: Scoring
    bands: list[Band] = []
    screening: Screening | None = None
    subscales: list[Subscale] = []
    outcomes: list[Outcome] = []
    safety: list[SafetyItem] = []
    change: ChangeSpec | None = None
    notes: list[Text] = []

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> InstrumentDefinition:
        if info.context and info.context.get(DEFER_CHECKS):
            return self
        from jedi_academy.instruments.checks import definition_problems

        problems = definition_problems(self)
        if problems:
            raise ValueError("; ".join(f"{format_path(path)}: {message}" for path, message in problems))
        return self


def format_path(path: tuple[str | int | float | bool | None, ...]) -> str:
    """``('items', 3, 'keyed')`` -> ``items[3].keyed``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"
