"""LoRA adapter folders: how a checkpoint's adapter is named where it is served, its canonical form,
content identity and verification.

Serving: the served name is the checkpoint id (unique, stable across machines, what every command shows), so
that the ``openai`` backend can select it by name (``vllm serve --lora-modules``, runtime loading, ``academy
serve``); the local ``transformers`` backend takes the adapter folder itself.

Identity: PEFT writes ``adapter_config.json`` with ``target_modules`` in set order (it changes with
PYTHONHASHSEED), the absolute path of the base model, its own version and a README with library versions, so
hashing the folder as written gives different ids for bitwise-identical weights. The identity here hashes what
determines the model: the config without paths, versions and empty fields (keys sorted, module lists sorted)
plus every tensor's name, dtype, shape and bytes, read straight from the safetensors file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jedi_academy.errors import ModelLoadError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
# written by PEFT but not part of what the adapter computes
VOLATILE_KEYS = ("base_model_name_or_path", "revision", "peft_version", "inference_mode", "auto_mapping")
UNORDERED_KEYS = ("target_modules", "modules_to_save", "exclude_modules")
CHUNK = 1 << 20


def canonical_config(config: dict[str, Any]) -> dict[str, Any]:
    """Path- and version-free adapter config: volatile and empty fields dropped, module lists sorted."""
    canonical: dict[str, Any] = {}
    for key, value in config.items():
        if key in VOLATILE_KEYS or value is None or value is False or value == {} or value == []:
            continue
        if key in UNORDERED_KEYS and isinstance(value, list | tuple | set):
            value = sorted(set(value))
        canonical[key] = value
    return canonical


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / ADAPTER_CONFIG
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{folder} is not a LoRA adapter: {ADAPTER_CONFIG} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path} is not a JSON object")
    return config


def _tensor_digest(path: Path, digest: Any) -> None:
    """Feed every tensor (sorted by name) into ``digest``: name, dtype, shape, then its raw bytes."""
    try:
        with path.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(header_size))
            data_start = 8 + header_size
            for name in sorted(k for k in header if k != "__metadata__"):
                entry = header[name]
                begin, end = entry["data_offsets"]
                digest.update(json.dumps([name, entry["dtype"], entry["shape"]]).encode())
                handle.seek(data_start + begin)
                remaining = end - begin
                while remaining > 0:
                    chunk = handle.read(min(CHUNK, remaining))
                    if not chunk:
                        raise ValueError(f"tensor {name} runs past the end of the file")
                    digest.update(chunk)
                    remaining -= len(chunk)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path.parent} is not a LoRA adapter: {ADAPTER_WEIGHTS} is missing") from exc
    except (OSError, ValueError, KeyError, TypeError, struct.error) as exc:
        raise ModelLoadError(f"{path} is not a readable safetensors file ({exc})") from exc


def adapter_identity(folder: Path) -> str:
    """SHA-256 of the canonical config plus the tensors: equal for equal adapters on any machine."""
    folder = Path(folder)
    digest = hashlib.sha256()
    config = canonical_config(_read_config(folder))
    digest.update(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0")
    _tensor_digest(folder / ADAPTER_WEIGHTS, digest)
    return digest.hexdigest()


def write_canonical_adapter(source: Path, target: Path, base_model: str) -> Path:
    """Copy an adapter into ``target`` in canonical form: the weights, and a config with sorted keys and
    module lists whose ``base_model_name_or_path`` is ``base_model`` (a name, never a local path); no
    README."""
    source, target = Path(source), Path(target)
    config = _read_config(source)
    if not (source / ADAPTER_WEIGHTS).is_file():
        raise ModelLoadError(f"{source} is not a LoRA adapter: {ADAPTER_WEIGHTS} is missing")
    for key in UNORDERED_KEYS:
        if isinstance(config.get(key), list | tuple | set):
            config[key] = sorted(set(config[key]))
    config["base_model_name_or_path"] = base_model
    config.pop("peft_version", None)
    target.mkdir(parents=True, exist_ok=True)
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    (target / ADAPTER_CONFIG).write_text(text, encoding="utf-8")
    shutil.copyfile(source / ADAPTER_WEIGHTS, target / ADAPTER_WEIGHTS)
    return target


EXPORT_METADATA = "checkpoint.json"


def verify_exported_adapter(folder: Path) -> None:
    """An adapter exported by ``academy checkpoints export`` carries its checkpoint's ``adapter_sha256`` in
    ``checkpoint.json``: refuse the folder if its files no longer hash to it. Other folders pass unchanged."""
    from jedi_academy.store.artifacts import sha256_tree

    metadata_file = Path(folder) / EXPORT_METADATA
    if not metadata_file.is_file():
        return
    try:
        expected = json.loads(metadata_file.read_text(encoding="utf-8")).get("adapter_sha256")
    except (OSError, ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{metadata_file} is not readable checkpoint metadata ({exc})") from exc
    if expected and sha256_tree(Path(folder), exclude=(EXPORT_METADATA,)) != expected:
        raise ModelLoadError(
            f"the adapter in {folder} does not match the hash {expected[:12]} recorded in {EXPORT_METADATA} "
            "(corrupted or edited); refusing to load it",
            "export the checkpoint again",
        )


# The LoRA ranks vLLM accepts for --max-lora-rank (vllm/config/lora.py).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def served_adapter_name(checkpoint_id: str) -> str:
    """The model name under which a checkpoint's adapter is served."""
    return checkpoint_id


def adapter_for_backend(backend: str, checkpoint_id: str, adapter_dir: Path | None) -> str | None:
    """What a backend's ``adapter=`` argument needs for this checkpoint: the folder for the local backend,
    the served name for a server (``openai``), nothing for a checkpoint without an adapter."""
    if adapter_dir is None:
        return None
    if backend == "openai":
        return served_adapter_name(checkpoint_id)
    return str(adapter_dir)


def vllm_max_lora_rank(ranks: Iterable[int]) -> int:
    """The smallest rank vLLM accepts that holds every adapter's rank."""
    highest = max(ranks, default=1)
    for allowed in VLLM_LORA_RANKS:
        if allowed >= highest:
            return allowed
    raise ValueError(f"LoRA rank {highest} is above vLLM's largest ({VLLM_LORA_RANKS[-1]})")
