"""Checkpoints as served LoRA adapters: which ones, under which name, from which folder, of which rank."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.llm.adapters import served_adapter_name

if TYPE_CHECKING:
    from jedi_academy.config import Settings


@dataclass(frozen=True)
class ServedAdapter:
    name: str  # the served model name (the checkpoint id)
    checkpoint_id: str
    specialization: str | None
    base_model: str
    rank: int
    path: Path  # the adapter folder in the artifact store

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class AdapterSelection:
    base_model: str
    adapters: list[ServedAdapter]
    skipped: list[str]  # checkpoints that are not servable adapters, with the reason


def adapter_rank(folder: Path) -> int:
    """``r`` from a PEFT ``adapter_config.json``."""
    config_file = folder / "adapter_config.json"
    try:
        rank = json.loads(config_file.read_text(encoding="utf-8"))["r"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AcademyError(f"{config_file}: cannot read the LoRA rank 'r' ({exc})") from exc
    if not isinstance(rank, int) or rank < 1:
        raise AcademyError(f"{config_file}: the LoRA rank 'r' must be a positive integer, got {rank!r}")
    return rank


def select_adapters(
    settings: Settings,
    *,
    checkpoints: list[str] | None = None,
    specialization: str | None = None,
    base_model: str | None = None,
) -> AdapterSelection:
    """The LoRA checkpoints to serve on one base model: the ones named (ids or prefixes), else every one
    (of a specialization). One server serves one base: several bases need ``base_model``."""
    from jedi_academy.finetune.checkpoints import adapter_path, get_checkpoint, list_checkpoints
    from jedi_academy.store import ArtifactStore, open_database
    from jedi_academy.store.retirement import is_retired, refuse_retired

    store = ArtifactStore(settings.data_dir)
    with open_database(settings).session() as session:
        if checkpoints:
            rows = [get_checkpoint(session, wanted) for wanted in checkpoints]
        else:
            rows = list_checkpoints(session, specialization)
        if checkpoints:  # one named on purpose is refused with the reason; a listing skips them
            for row in rows:
                refuse_retired(row)
        skipped = [
            f"{row.id}: a {row.kind} checkpoint has no LoRA adapter" for row in rows if row.kind != "lora"
        ]
        skipped += [f"{row.id}: retired (trained on erased data)" for row in rows if is_retired(row)]
        candidates = [row for row in rows if row.kind == "lora" and not is_retired(row)]
        bases = sorted({row.base_model for row in candidates})
        if base_model is None and len(bases) > 1:
            raise AcademyError(
                f"the checkpoints are on {len(bases)} base models ({', '.join(bases)}); a server has one",
                "pick one with --base-model",
            )
        base = base_model or (bases[0] if bases else settings.model)
        adapters: list[ServedAdapter] = []
        for row in candidates:
            if row.base_model != base:
                skipped.append(f"{row.id}: base model {row.base_model}, not {base}")
                continue
            folder = adapter_path(session, store, row)
            assert folder is not None  # a lora checkpoint has an adapter
            adapters.append(
                ServedAdapter(
                    served_adapter_name(row.id),
                    row.id,
                    row.specialization_id,
                    base,
                    adapter_rank(folder),
                    folder,
                )
            )
    return AdapterSelection(base, adapters, skipped)
