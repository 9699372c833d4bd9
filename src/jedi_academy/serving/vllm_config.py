"""``academy serve-config --for vllm``: what a vLLM server needs to serve every patient checkpoint as a
named LoRA adapter on one GPU.

Written into one folder, each file atomically:

* ``vllm-serve.sh`` - ``vllm serve BASE --served-model-name NAME [--tokenizer-mode mistral] --enable-lora
  --max-loras N --max-lora-rank R --max-cpu-loras M --lora-modules '{"name", "path", "base_model_name"}' ...``
* ``lora-modules.json`` - the same adapters as a list (``vllm serve --lora-modules`` entries);
* ``load-adapters.jsonl`` and ``load-adapters.sh`` - the bodies and the ``curl`` calls of
  ``POST /v1/load_lora_adapter`` for a server started with ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``;
* ``serve-config.json`` - all of it, for scripts;
* with ``export``, ``adapters/<name>/`` - a copy of each adapter, to put on the GPU machine.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.llm.adapters import vllm_max_lora_rank
from jedi_academy.serving.adapters import AdapterSelection

if TYPE_CHECKING:
    from jedi_academy.config import Settings

TARGETS = ("vllm",)
DEFAULT_MAX_LORAS = 8  # adapters in one GPU batch; the rest wait in vLLM's CPU cache
FILES = ("vllm-serve.sh", "lora-modules.json", "load-adapters.jsonl", "load-adapters.sh", "serve-config.json")


@dataclass(frozen=True)
class VLLMOptions:
    out: Path
    export: bool = False
    adapter_root: str | None = None  # where the exported adapters will be on the GPU machine
    max_loras: int | None = None
    port: int = 8000


def base_model_source(settings: Settings, base_model: str) -> tuple[str, bool]:
    """What ``vllm serve`` loads for a base model name, and whether it is a Mistral model (which vLLM should
    tokenize with mistral-common: ``--tokenizer-mode mistral``)."""
    from jedi_academy.llm.chat_format import mistral_tokenizer_file
    from jedi_academy.llm.tiny import is_tiny_model, tiny_model_dir

    if base_model == "tiny":
        return str(tiny_model_dir(settings).resolve()), True
    folder = Path(base_model).expanduser()
    if folder.is_dir():
        return str(folder.resolve()), is_tiny_model(base_model) or mistral_tokenizer_file(folder) is not None
    return base_model, base_model.lower().startswith("mistralai/")


def _write_atomically(path: Path, text: str, mode: int = 0o644) -> None:
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(staging, mode)
        os.replace(staging, path)
    finally:
        Path(staging).unlink(missing_ok=True)


def _export(settings: Settings, checkpoint_id: str, target: Path) -> None:
    """Copy one checkpoint's adapter (verified by finetune's export) unless an earlier run did."""
    from jedi_academy.finetune.checkpoints import export_checkpoint, get_checkpoint
    from jedi_academy.store import ArtifactStore, open_database

    if (target / "checkpoint.json").is_file():
        return
    staging = target.parent / f".{target.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    with open_database(settings).session() as session:
        export_checkpoint(
            session, ArtifactStore(settings.data_dir), get_checkpoint(session, checkpoint_id), staging
        )
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)


def write_vllm_config(
    settings: Settings, selection: AdapterSelection, options: VLLMOptions
) -> dict[str, Any]:
    if not selection.adapters:
        raise AcademyError("no LoRA checkpoints to serve", "train one with `academy finetune` first")
    if options.adapter_root is not None and not options.export:
        raise AcademyError("--adapter-root names where exported adapters go", "add --export")
    if options.max_loras is not None and options.max_loras < 1:
        raise AcademyError(f"--max-loras must be at least 1, got {options.max_loras}")
    out = options.out
    if out.exists() and not out.is_dir():
        raise AcademyError(f"{out} exists and is not a folder", "choose another --out")
    if out.is_dir() and any(out.iterdir()) and not (out / "serve-config.json").is_file():
        raise AcademyError(
            f"{out} is not empty and holds no earlier serve-config", "choose a new --out folder"
        )
    out.mkdir(parents=True, exist_ok=True)

    paths: dict[str, str] = {}
    for adapter in selection.adapters:
        if options.export:
            local = out / "adapters" / adapter.name
            local.parent.mkdir(exist_ok=True)
            _export(settings, adapter.checkpoint_id, local)
            root = options.adapter_root
            paths[adapter.name] = f"{root.rstrip('/')}/{adapter.name}" if root else str(local.resolve())
        else:
            paths[adapter.name] = str(adapter.path.resolve())

    source, is_mistral = base_model_source(settings, selection.base_model)
    count = len(selection.adapters)
    max_loras = min(options.max_loras or DEFAULT_MAX_LORAS, count)
    max_rank = vllm_max_lora_rank(a.rank for a in selection.adapters)
    modules = [
        {"name": a.name, "path": paths[a.name], "base_model_name": selection.base_model}
        for a in selection.adapters
    ]
    args = [source, "--served-model-name", selection.base_model, "--port", str(options.port)]
    if is_mistral:
        args += ["--tokenizer-mode", "mistral"]
    args += ["--enable-lora", "--max-loras", str(max_loras), "--max-lora-rank", str(max_rank)]
    args += ["--max-cpu-loras", str(max(count, max_loras))]
    for module in modules:
        args += ["--lora-modules", json.dumps(module)]

    script = [
        "#!/usr/bin/env bash",
        "# Written by `academy serve-config --for vllm`:",
        f"# {selection.base_model} with {count} patient adapter(s), each served under its checkpoint id.",
        "# Extra arguments go to vllm serve (e.g. --api-key KEY).",
        "set -euo pipefail",
        "exec vllm serve " + " \\\n    ".join(shlex.quote(a) for a in args) + ' "$@"',
    ]
    loader = [
        "#!/usr/bin/env bash",
        "# Loads every adapter into a running server started with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True",
        "# (or `academy serve --runtime-lora`). Usage: load-adapters.sh [BASE_URL]",
        "# (set VLLM_API_KEY when the server has one).",
        "set -euo pipefail",
        f'url="${{1:-http://127.0.0.1:{options.port}}}"',
        'auth=(-H "Authorization: Bearer ${VLLM_API_KEY:-none}")',
        "while IFS= read -r body; do",
        '    curl -fsS "${auth[@]}" -H "Content-Type: application/json" -d "$body" \\',
        '        "$url/v1/load_lora_adapter"',
        "    echo",
        'done < "$(dirname "$0")/load-adapters.jsonl"',
    ]
    summary: dict[str, Any] = {
        "target": "vllm",
        "base_model": selection.base_model,
        "base_model_source": source,
        "tokenizer_mode": "mistral" if is_mistral else "auto",
        "max_loras": max_loras,
        "max_lora_rank": max_rank,
        "max_cpu_loras": max(count, max_loras),
        "adapters": [
            {**a.as_dict(), "path": paths[a.name], "stored_at": str(a.path)} for a in selection.adapters
        ],
        "lora_modules": modules,
        "vllm_args": args,
        "skipped": selection.skipped,
        "out": str(out.resolve()),
        "files": list(FILES),
    }
    runtime_bodies = "".join(
        json.dumps({"lora_name": m["name"], "lora_path": m["path"]}) + "\n" for m in modules
    )
    _write_atomically(out / "lora-modules.json", json.dumps(modules, indent=2) + "\n")
    _write_atomically(out / "load-adapters.jsonl", runtime_bodies)
    _write_atomically(out / "vllm-serve.sh", "\n".join(script) + "\n", 0o755)
    _write_atomically(out / "load-adapters.sh", "\n".join(loader) + "\n", 0o755)
    _write_atomically(out / "serve-config.json", json.dumps(summary, indent=2) + "\n")  # last: marks it done
    return summary
