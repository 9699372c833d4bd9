"""The pipeline file (TOML) of ``academy run``, validated with line-free but field-precise errors."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jedi_academy.errors import ConfigError
from jedi_academy.finetune import bounds
from jedi_academy.limits import MAX_SEED
from jedi_academy.pipeline.sample_dump import SAMPLE_PATH

SAMPLE_KEYWORD = "sample"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSection(_Section):
    dumps: list[str] = Field(default_factory=lambda: [SAMPLE_KEYWORD], min_length=1)
    specializations: list[str] = Field(min_length=1)


class TeacherSection(_Section):
    """The model that writes persona cards and patient answers."""

    backend: Literal["transformers", "openai", "mistral"] = "transformers"
    model: str = "tiny"
    base_url: str | None = None


class BaseSection(_Section):
    model: str = "tiny"


class PersonasSection(_Section):
    n: int = Field(10, ge=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    min_comments: int = Field(3, ge=1)
    max_tokens: int = Field(2048, ge=64)
    max_trait_chars: int | None = Field(None, ge=3)  # shorter cards (small or slow teachers)
    max_list_items: int | None = Field(None, ge=1)
    grounding: bool = True  # the teacher judges whether each cited comment supports its trait
    first_person: Literal["judge", "heuristic", "off"] = "judge"


class ConversationsSection(_Section):
    per_persona: int = Field(2, ge=1)
    turns: int = Field(8, ge=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    max_tokens: int = Field(256, ge=8)
    keep_truncated: bool = (
        False  # keep answers cut at max_tokens (needed for the tiny model, which never stops)
    )
    therapist_max_tokens: int = Field(96, ge=8)
    unhelpful_share: float = Field(0.15, ge=0, le=1)
    self_cure_judge: bool = True
    consistency_sample: float = Field(0.2, ge=0, le=1)


class DatasetSection(_Section):
    validation_fraction: float = Field(0.1, ge=0, lt=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)


class TrainingSection(_Section):
    # ranges (and most defaults) from finetune/bounds.py, as TrainingConfig and `academy finetune` have them;
    # the pipeline's own defaults: a batch of 8 conversations, no accumulation
    steps: int = bounds.MAX_STEPS.field()
    lr: float = bounds.LEARNING_RATE.field()
    rank: int = bounds.LORA_RANK.field()
    batch_size: int = replace(bounds.BATCH_SIZE, default=8).field()
    grad_accum: int = replace(bounds.GRAD_ACCUMULATION, default=1).field()
    max_seq_len: int = bounds.MAX_SEQ_LEN.field()
    warmup: float = bounds.WARMUP_FRACTION.field()
    seed: int = Field(0, ge=0, le=MAX_SEED)
    save_every: int = bounds.SAVE_EVERY.field()
    eval_every: int = bounds.EVAL_EVERY.field()


class AssessmentSection(_Section):
    mode: Literal["logprob", "sample"] = "logprob"
    instruments: list[str] = Field(default_factory=list)  # empty: the specialization's own
    samples: int = Field(20, ge=1)
    max_personas: int | None = Field(None, ge=1)
    sham: bool = False  # also train and assess a sham control (non-clinical conversations, same volume)


class PipelineConfig(_Section):
    name: str = Field("academy", pattern=r"^[A-Za-z0-9_.-]+$")
    input: InputSection
    teacher: TeacherSection = TeacherSection()
    base: BaseSection = BaseSection()
    personas: PersonasSection = PersonasSection()
    conversations: ConversationsSection = ConversationsSection()
    dataset: DatasetSection = DatasetSection()
    training: TrainingSection = TrainingSection()
    assessment: AssessmentSection = AssessmentSection()

    def dump_paths(self, relative_to: Path) -> list[Path]:
        """Dump paths, resolved against the pipeline file's folder; ``sample`` is the shipped sample."""
        paths = []
        for entry in self.input.dumps:
            path = SAMPLE_PATH if entry == SAMPLE_KEYWORD else Path(entry).expanduser()
            paths.append(path if path.is_absolute() else (relative_to / path).resolve())
        return paths


def load_pipeline(path: Path) -> PipelineConfig:
    if not path.is_file():
        raise ConfigError(f"pipeline file {path} does not exist", "see examples/pipeline.toml")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}", "see the example in examples/pipeline.toml") from exc
