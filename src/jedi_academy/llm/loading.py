"""Turning a model name into a local folder: ``tiny``, a local path, or a Hugging Face Hub id."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import ModelLoadError

if TYPE_CHECKING:
    from jedi_academy.config import Settings


# What a Hub download fetches: the Hugging Face weights (one file or shards plus their index), configs and
# tokenizer files. Not `consolidated.safetensors`: Mistral repos also carry the same weights in Mistral's own
# format (14.5 GB more for 7B), which transformers does not read.
HUB_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model*.safetensors",
    "model.safetensors.index.json",
    "tokenizer*",
    "special_tokens_map.json",
    "tekken.json",
    "*.jinja",
)


def quiet_hf_libraries() -> None:
    """Progress bars from transformers/huggingface_hub clutter our own output; errors still show."""
    import warnings

    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as hf_logging

    # peft still calls transformers' deprecated is_gradient_checkpointing; the warning is not ours to fix
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    disable_progress_bars()


def resolve_model_dir(name: str, settings: Settings) -> Path:
    from jedi_academy.llm.tiny import TINY_NAME, build_tiny_model, tiny_model_dir

    if name == TINY_NAME:
        return build_tiny_model(tiny_model_dir(settings))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} is a folder but holds no config.json", "point --model at a Hugging Face model folder"
            )
        return path
    if path.exists() or name.startswith((".", "/", "~")):
        raise ModelLoadError(f"model folder {name} does not exist", "check the path given to --model")
    if name.count("/") != 1:
        raise ModelLoadError(
            f"unknown model {name!r}",
            "use 'tiny', a local model folder, or a Hub id such as mistralai/Mistral-7B-Instruct-v0.3",
        )
    return _download(name)


def _download(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=list(HUB_PATTERNS)))
    except Exception as exc:
        raise ModelLoadError(
            f"cannot fetch model {repo_id!r} from the Hugging Face Hub ({type(exc).__name__}: {exc})",
            "download it where the Hub is reachable and pass the local folder to --model",
        ) from exc


def model_identity(name: str) -> str:
    """A path- and version-free name for a base model, the same on every machine.

    ``tiny`` (or a folder built as the tiny model) is ``tiny``; a Hub id is itself; a folder in the Hugging
    Face cache is ``org/name@revision``; any other folder is named by its ``config.json`` (without path and
    library version) and the names and sizes of its weight files."""
    import hashlib
    import json

    from jedi_academy.llm.tiny import is_tiny_model

    if is_tiny_model(name):
        return "tiny"
    path = Path(name).expanduser()
    if not path.is_dir():
        return name
    parts = path.resolve().parts
    if len(parts) >= 3 and parts[-2] == "snapshots" and parts[-3].startswith("models--"):
        return parts[-3].removeprefix("models--").replace("--", "/") + "@" + parts[-1]
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path / 'config.json'} ({exc})") from exc
    for volatile in ("_name_or_path", "transformers_version"):
        config.pop(volatile, None)
    weights = sorted((p.name, p.stat().st_size) for p in path.glob("*.safetensors"))
    key = json.dumps([config, weights], sort_keys=True)
    return "local:" + hashlib.sha256(key.encode()).hexdigest()[:16]
