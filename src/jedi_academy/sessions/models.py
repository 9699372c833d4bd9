"""Which model answers: the case's patient checkpoint (base model plus adapter, or a remote fine-tune) and the
teacher that reads the session afterwards. One loaded model per (backend, model, server) serves both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.llm import LLM, open_llm

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.llm.targets import CheckpointTarget
    from jedi_academy.store import Database


@dataclass(frozen=True)
class ModelSpec:
    backend: str
    model: str
    base_url: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "base_url": self.base_url}


@dataclass
class PatientModel:
    llm: LLM
    adapter: str | None  # adapter folder (transformers) or served adapter name (openai)
    record: dict[str, Any]  # what the session stores about it


class ModelPool:
    """Loaded models, shared by every session of a process (the web app keeps one pool)."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._llms: dict[ModelSpec, LLM] = {}
        self._targets: dict[str, CheckpointTarget] = {}  # checkpoint id -> resolved once
        # Loading a model takes seconds to minutes: said before it starts, so the terminal is not silent.
        self.progress = progress
        # How a process serves its models to sessions: the web app wraps a local model so that replies that
        # wait together are generated as one batch (``llm.batching``); None: as loaded.
        self.wrap: Callable[[LLM], LLM] | None = None
        self._wrapped: dict[ModelSpec, LLM] = {}

    def share(self, spec: ModelSpec, llm: LLM) -> None:
        """Serve ``spec`` with a model that is already loaded (a server's, a test's)."""
        self._llms[spec] = llm

    def get(self, spec: ModelSpec) -> LLM:
        if spec not in self._llms:
            if self.progress is not None:
                self.progress(f"loading model {spec.model} ({spec.backend} backend) ...")
            settings = self.settings.model_copy(update={"base_url": spec.base_url or self.settings.base_url})
            self._llms[spec] = open_llm(settings, backend=spec.backend, model=spec.model)
        if self.wrap is None:
            return self._llms[spec]
        if spec not in self._wrapped:
            self._wrapped[spec] = self.wrap(self._llms[spec])
        return self._wrapped[spec]

    def teacher_spec(
        self, backend: str | None = None, model: str | None = None, base_url: str | None = None
    ) -> ModelSpec:
        return ModelSpec(
            backend or self.settings.backend, model or self.settings.model, base_url or self.settings.base_url
        )

    def patient(self, database: Database, checkpoint_id: str) -> PatientModel:
        """The checkpoint's model and adapter, through the one resolver of checkpoints (the adapter's hash is
        verified the first time this pool serves it)."""
        from jedi_academy.llm.targets import resolve_checkpoint
        from jedi_academy.sessions.records import get_checkpoint_row

        with database.session() as session:
            row = get_checkpoint_row(session, checkpoint_id)
            found = self._targets.get(row.id)
            if found is None:
                found = self._targets[row.id] = resolve_checkpoint(session, self.settings, row)
        spec = ModelSpec(found.backend, found.model, found.base_url)
        record: dict[str, Any] = {
            "checkpoint_id": found.checkpoint_id,
            "kind": found.kind,
            "adapter_sha256": found.adapter_sha256,
            **spec.describe(),
        }
        return PatientModel(self.get(spec), found.adapter, record)
