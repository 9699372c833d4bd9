"""Which model answers: the case's patient checkpoint (base model plus adapter, or a remote fine-tune) and the
teacher that reads the session afterwards. One loaded model per (backend, model, server) serves both."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.llm import LLM, open_llm
from jedi_academy.store import ArtifactStore
from jedi_academy.store.models import Artifact

if TYPE_CHECKING:
    from jedi_academy.config import Settings
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
        # Loading a model takes seconds to minutes: said before it starts, so the terminal is not silent.
        self.progress = progress

    def share(self, spec: ModelSpec, llm: LLM) -> None:
        """Serve ``spec`` with a model that is already loaded (a server's, a test's)."""
        self._llms[spec] = llm

    def get(self, spec: ModelSpec) -> LLM:
        if spec not in self._llms:
            if self.progress is not None:
                self.progress(f"loading model {spec.model} ({spec.backend} backend) ...")
            settings = self.settings.model_copy(update={"base_url": spec.base_url or self.settings.base_url})
            self._llms[spec] = open_llm(settings, backend=spec.backend, model=spec.model)
        return self._llms[spec]

    def teacher_spec(
        self, backend: str | None = None, model: str | None = None, base_url: str | None = None
    ) -> ModelSpec:
        return ModelSpec(
            backend or self.settings.backend, model or self.settings.model, base_url or self.settings.base_url
        )

    def patient(self, database: Database, checkpoint_id: str) -> PatientModel:
        from jedi_academy.sessions.records import get_checkpoint_row

        with database.session() as session:
            checkpoint = get_checkpoint_row(session, checkpoint_id)
            record: dict[str, Any] = {
                "checkpoint_id": checkpoint.id,
                "kind": checkpoint.kind,
                "adapter_sha256": checkpoint.adapter_sha256,
            }
            adapter: str | None = None
            if checkpoint.kind == "remote":
                spec = ModelSpec("mistral", checkpoint.remote_model_id or "", self.settings.base_url)
            else:
                spec = ModelSpec(self.settings.backend, checkpoint.base_model, self.settings.base_url)
                if checkpoint.adapter_sha256 is not None:
                    adapter = self._adapter(session, spec.backend, checkpoint.id, checkpoint.adapter_sha256)
        record.update(spec.describe())
        return PatientModel(self.get(spec), adapter, record)

    def _adapter(self, session: Any, backend: str, checkpoint_id: str, sha256: str) -> str:
        if backend == "openai":
            return checkpoint_id  # the server serves the adapter under the checkpoint's id
        artifact = session.get(Artifact, sha256)
        if artifact is None:
            raise AcademyError(
                f"checkpoint {checkpoint_id} refers to a missing adapter artifact {sha256[:12]}"
            )
        path = ArtifactStore(self.settings.data_dir).path(artifact)
        if not path.is_dir():
            raise AcademyError(
                f"the adapter of checkpoint {checkpoint_id} is missing from {path}",
                "restore the data directory's artifacts folder",
            )
        return str(path)
