"""``academy run``: ingest -> personas -> conversations -> dataset version -> fine-tune -> baseline -> report.

Each stage declares its inputs (settings and upstream outputs) and how to check that its output still exists;
:class:`PipelineState` skips the stages whose inputs are unchanged."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.pipeline.config import PipelineConfig
from jedi_academy.pipeline.display import StageDisplay
from jedi_academy.pipeline.state import PipelineState, Stage, input_hash

if TYPE_CHECKING:
    from jedi_academy.config import Settings

HEAD_BYTES = 1 << 20


def file_fingerprint(path: Path) -> dict[str, Any]:
    if not path.is_file():
        from jedi_academy.errors import AcademyError

        raise AcademyError(f"dump file {path} does not exist", "fix [input].dumps in the pipeline file")
    with path.open("rb") as handle:
        head = hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()
    return {"path": str(path), "size": path.stat().st_size, "head_sha256": head}


@dataclass
class PipelineResult:
    report: Path
    summary: str
    ran: list[str]
    skipped: list[str]


class Pipeline:
    def __init__(
        self,
        settings: Settings,
        config: PipelineConfig,
        config_dir: Path,
        *,
        resume: bool = False,
        restart: bool = False,
    ) -> None:
        from jedi_academy.store import ArtifactStore, open_database

        self.settings = settings
        self.config = config
        self.config_dir = config_dir
        self.resume = resume
        self.restart = restart
        self.database = open_database(settings)
        self.store = ArtifactStore(settings.data_dir)
        self.state = PipelineState(settings.path("runs", "pipeline", config.name, "state.json"))
        self.teacher = settings.model_copy(
            update={
                "backend": config.teacher.backend,
                "model": config.teacher.model,
                "base_url": config.teacher.base_url or settings.base_url,
            }
        )
        self.display: StageDisplay | None = None

    # ------------------------------------------------------------------ running

    def stage_keys(self) -> list[str]:
        keys = ["ingest"]
        for name in ("personas", "conversations", "dataset", "finetune", "baseline"):
            keys += [f"{name}:{s}" for s in self.config.input.specializations]
        return [*keys, "report"]

    def run(self, *, display: StageDisplay | None = None) -> PipelineResult:
        """Every stage, under the data directory's writer lock."""
        from jedi_academy.store import data_dir_lock

        with data_dir_lock(self.settings.data_dir, "run"):
            return self._run(display=display)

    def _run(self, *, display: StageDisplay | None = None) -> PipelineResult:
        from jedi_academy.specializations import (
            load_specializations,
            select_specializations,
            sync_specializations,
        )

        specs = select_specializations(self.config.input.specializations, load_specializations(self.settings))
        sync_specializations(self.database, specs)
        self.display = display or StageDisplay(self.stage_keys())
        ran, skipped = [], []
        try:
            for stage in self._stages():
                if self.state.is_current(stage):
                    skipped.append(stage.key)
                    self.display.finish(stage.key, "skipped", "inputs unchanged, output present")
                    continue
                self.display.start(stage.key)
                started = time.monotonic()
                output = stage.run()
                self.state.record(stage, output, time.monotonic() - started)
                ran.append(stage.key)
                self.display.finish(stage.key, "done", output.get("message", ""))
        finally:
            self.display.close()
        report = self.state.output("report")
        return PipelineResult(Path(report["path"]), report["summary"], ran, skipped)

    def _stages(self) -> Iterator[Stage]:
        """Generated lazily: each stage's inputs include the outputs recorded by the stages before it."""
        yield self._ingest_stage()
        for spec in self.config.input.specializations:
            yield self._personas_stage(spec)
            yield self._conversations_stage(spec)
            yield self._dataset_stage(spec)
            yield self._finetune_stage(spec)
            yield self._baseline_stage(spec)
        yield self._report_stage()

    def _upstream(self, key: str) -> str:
        record = self.state.stages[key]
        return record["input"] + ":" + input_hash(record["output"])

    # ------------------------------------------------------------------ stages

    def _ingest_stage(self) -> Stage:
        paths = self.config.dump_paths(self.config_dir)
        inputs = {
            "dumps": [file_fingerprint(p) for p in paths],
            "specializations": sorted(self.config.input.specializations),
            "rules": "default",
        }
        out_dir = self.settings.path("reddit", "run-" + input_hash(inputs)[:12])

        def run() -> dict[str, Any]:
            from jedi_academy.reddit import IngestOptions, ingest

            result = ingest(
                self.settings,
                IngestOptions(
                    paths=paths,
                    specializations=self.config.input.specializations,
                    out_dir=out_dir,
                    resume=self.resume,
                ),
                progress=_IngestProgress(self.display, "ingest"),
                warn=lambda text: None,
            )
            summary = result.summary
            counts = f"{summary['lines_read']} lines, {summary['kept']} kept, {summary['authors']} authors"
            return {
                "run_id": result.run_id,
                "out_dir": str(out_dir),
                "summary": summary,
                "message": counts,
            }

        def exists(output: dict[str, Any]) -> bool:
            from jedi_academy.store.models import IngestRun

            with self.database.session() as session:
                row = session.get(IngestRun, output["run_id"])
                return row is not None and row.status == "completed" and Path(output["out_dir"]).is_dir()

        return Stage("ingest", inputs, run, exists)

    def _personas_stage(self, spec: str) -> Stage:
        options = self.config.personas
        inputs = {
            "ingest": self._upstream("ingest"),
            "personas": options.model_dump(),
            "teacher": self.config.teacher.model_dump(),
        }

        def run() -> dict[str, Any]:
            from jedi_academy.personas.generate import PersonaOptions
            from jedi_academy.personas.schema import CardLimits
            from jedi_academy.personas.selection import SelectionRules
            from jedi_academy.personas.service import generate_for_specialization, require_generated

            persona_options = PersonaOptions(
                n=options.n,
                seed=options.seed,
                max_tokens=options.max_tokens,
                selection=SelectionRules(min_comments=options.min_comments),
                limits=CardLimits(text_max_chars=options.max_trait_chars, max_items=options.max_list_items),
                grounding=options.grounding,
                first_person=options.first_person,
            )
            report = generate_for_specialization(
                self.teacher,
                spec,
                persona_options,
                reddit_dir=Path(self.state.output("ingest")["out_dir"]),
                progress=lambda text: self.display.update(f"personas:{spec}", text) if self.display else None,
            )
            require_generated(report, persona_options)
            return {
                "persona_ids": report.persona_ids,
                "report": _plain(report),
                "message": f"{report.generated} personas from {report.eligible} eligible authors",
            }

        def exists(output: dict[str, Any]) -> bool:
            from jedi_academy.store.models import Persona

            with self.database.session() as session:
                return all(session.get(Persona, pid) is not None for pid in output["persona_ids"])

        return Stage(f"personas:{spec}", inputs, run, exists)

    def _conversations_stage(self, spec: str) -> Stage:
        options = self.config.conversations
        inputs = {"personas": self._upstream(f"personas:{spec}"), "conversations": options.model_dump(),
                  "teacher": self.config.teacher.model_dump()}  # fmt: skip

        def run() -> dict[str, Any]:
            from jedi_academy.conversations.generate import ConversationOptions
            from jedi_academy.conversations.service import generate_for_specialization, require_generated

            conversation_options = ConversationOptions(
                per_persona=options.per_persona,
                turns=options.turns,
                seed=options.seed,
                max_tokens=options.max_tokens,
                keep_truncated=options.keep_truncated,
                therapist_max_tokens=options.therapist_max_tokens,
                unhelpful_share=options.unhelpful_share,
                self_cure_judge=options.self_cure_judge,
                consistency_sample=options.consistency_sample,
            )
            report = generate_for_specialization(
                self.teacher,
                spec,
                conversation_options,
                persona_ids=self.state.output(f"personas:{spec}")["persona_ids"],
                reddit_dir=Path(self.state.output("ingest")["out_dir"]),
                progress=lambda text: (
                    self.display.update(f"conversations:{spec}", text) if self.display else None
                ),
            )
            require_generated(report)
            return {
                "conversation_ids": report.conversation_ids,
                "report": _plain(report),
                "message": f"{len(report.conversation_ids)} conversations, {report.turns} turns",
            }

        def exists(output: dict[str, Any]) -> bool:
            from sqlalchemy import func, select

            from jedi_academy.store.models import Conversation

            with self.database.session() as session:
                ids = output["conversation_ids"]
                found = session.scalar(select(func.count()).where(Conversation.id.in_(ids)))
                return found == len(ids)

        return Stage(f"conversations:{spec}", inputs, run, exists)

    def _dataset_stage(self, spec: str) -> Stage:
        inputs = {
            "conversations": self._upstream(f"conversations:{spec}"),
            "dataset": self.config.dataset.model_dump(),
        }

        def run() -> dict[str, Any]:
            from jedi_academy.datasets.export import export_folder, export_mistral
            from jedi_academy.datasets.versions import build_dataset

            version, _ = build_dataset(
                self.database,
                self.store,
                [spec],
                validation_fraction=self.config.dataset.validation_fraction,
                seed=self.config.dataset.seed,
                conversation_ids=self.state.output(f"conversations:{spec}")["conversation_ids"],
            )
            _, folder, stats = export_folder(self.database, self.store, version.id)
            files = export_mistral(folder, self.settings.path("exports", f"{spec}-{version.id[:12]}.jsonl"))
            tokens = sum(split["tokens"] for split in stats["splits"].values())
            return {
                "dataset_id": version.id,
                "stats": stats,
                "files": [str(f) for f in files],
                "message": f"{version.id[:12]}: {stats['conversations']} conversations, {tokens} tokens",
            }

        def exists(output: dict[str, Any]) -> bool:
            from jedi_academy.store.models import DatasetVersion

            with self.database.session() as session:
                return session.get(DatasetVersion, output["dataset_id"]) is not None

        return Stage(f"dataset:{spec}", inputs, run, exists)

    def _finetune_stage(self, spec: str) -> Stage:
        training = self.config.training
        inputs = {"dataset": self._upstream(f"dataset:{spec}"), "base": self.config.base.model,
                  "training": training.model_dump()}  # fmt: skip

        def run() -> dict[str, Any]:
            from jedi_academy.finetune.config import TrainingConfig
            from jedi_academy.finetune.service import FinetuneRequest, finetune

            config = TrainingConfig(
                lora_rank=training.rank,
                lora_alpha=2.0 * training.rank,
                learning_rate=training.lr,
                max_steps=training.steps,
                batch_size=training.batch_size,
                grad_accumulation=training.grad_accum,
                max_seq_len=training.max_seq_len,
                warmup_fraction=training.warmup,
                seed=training.seed,
                save_every=training.save_every,
                eval_every=training.eval_every,
            )
            key = f"finetune:{spec}"

            def on_step(step: int, loss: float) -> None:
                if self.display:
                    self.display.update(
                        key, f"step {step}/{training.steps} loss {loss:.4f}", step, training.steps
                    )

            request = FinetuneRequest(
                dataset=self.state.output(f"dataset:{spec}")["dataset_id"],
                base_model=self.config.base.model,
                specialization=spec,
                resume=self.resume,
                restart=self.restart,
                show_progress=False,
            )
            checkpoint = finetune(self.settings, request, config, on_step=on_step, echo=lambda _t: None)
            first, last = checkpoint.metrics["train_loss_first"], checkpoint.metrics["train_loss_last"]
            return {
                "checkpoint_id": checkpoint.id,
                "message": f"{checkpoint.id}: loss {first:.3f} -> {last:.3f}",
            }

        def exists(output: dict[str, Any]) -> bool:
            from jedi_academy.store.models import Checkpoint

            with self.database.session() as session:
                return session.get(Checkpoint, output["checkpoint_id"]) is not None

        return Stage(f"finetune:{spec}", inputs, run, exists)

    def _baseline_stage(self, spec: str) -> Stage:
        assessment = self.config.assessment
        inputs = {"checkpoint": self._upstream(f"finetune:{spec}"), "assessment": assessment.model_dump()}

        def run() -> dict[str, Any]:
            from jedi_academy.assessment.baseline import run_baseline
            from jedi_academy.assessment.runner import SampleOptions

            results = run_baseline(
                self.settings.model_copy(update={"model": self.config.base.model}),
                self.database,
                spec,
                checkpoint=self.state.output(f"finetune:{spec}")["checkpoint_id"],
                instruments=assessment.instruments or None,
                mode=assessment.mode,
                sample_options=SampleOptions(samples=assessment.samples),
                max_personas=assessment.max_personas,
                train_sham=assessment.sham,
                echo=lambda text: self.display.update(f"baseline:{spec}", text) if self.display else None,
            )
            verdicts = {i: block["verdict"] for i, block in results["instruments"].items()}
            answers = ", ".join(f"{i}: {v['verdict'].upper()}" for i, v in verdicts.items())
            return {"results": results, "message": answers}

        def exists(output: dict[str, Any]) -> bool:
            return Path(output["results"]["report"]).is_file()

        return Stage(f"baseline:{spec}", inputs, run, exists)

    def _report_stage(self) -> Stage:
        specs = self.config.input.specializations
        keys = ["ingest"] + [
            f"{n}:{s}"
            for s in specs
            for n in ("personas", "conversations", "dataset", "finetune", "baseline")
        ]
        inputs = {key: self._upstream(key) for key in keys}

        def run() -> dict[str, Any]:
            from jedi_academy.pipeline.report import write_pipeline_report

            path, summary = write_pipeline_report(self.settings, self.database, self.config, self.state)
            return {"path": str(path), "summary": summary, "message": str(path)}

        return Stage("report", inputs, run, lambda output: Path(output["path"]).is_file())


class _IngestProgress:
    """Feeds the ingest's byte progress into the pipeline display."""

    def __init__(self, display: StageDisplay | None, key: str) -> None:
        self.display, self.key, self.total, self.name = display, key, 1, ""

    def start_file(self, name: str, total: int, decoder: str, *, completed: int = 0, lines: int = 0) -> None:
        self.total, self.name = max(1, total), name

    def update(self, compressed_pos: int, lines: int) -> None:
        if self.display:
            self.display.update(self.key, f"{self.name}: {lines:,} lines", compressed_pos, self.total)

    def finish_file(self) -> None:
        pass

    def close(self) -> None:
        pass


def _plain(report: Any) -> dict[str, Any]:
    """A report dataclass as JSON-ready data (counters keyed by tuples get ``a/b`` string keys)."""
    from dataclasses import asdict

    return _jsonable(asdict(report))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            ("/".join(map(str, key)) if isinstance(key, tuple) else str(key)): _jsonable(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    return value
