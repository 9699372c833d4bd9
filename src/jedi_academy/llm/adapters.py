"""How a checkpoint's LoRA adapter is named where it is served (``vllm serve --lora-modules``, runtime
loading, ``academy serve``), so that the ``openai`` backend can select it by name.

The served name is the checkpoint id: unique, stable across machines, and what every command already shows.
The local ``transformers`` backend takes the adapter folder itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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
