"""Training data: Mistral fine-tuning JSONL in, token ids with assistant-only loss masks out, then
length-grouped batches (similar lengths together, so padding stays small)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jedi_academy.errors import AcademyError
from jedi_academy.llm.chat_format import ChatFormatter

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE where no loss applies

    @property
    def trained_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


def read_conversations(path: Path) -> list[list[dict]]:
    """Read Mistral fine-tuning JSONL; errors name the file and line."""
    try:
        return _read_conversations(path)
    except UnicodeDecodeError as exc:
        raise AcademyError(f"{path}: not UTF-8 text ({exc.reason})", "give a Mistral .jsonl file") from exc


def _read_conversations(path: Path) -> list[list[dict]]:
    conversations = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AcademyError(f"{path}, line {number}: not valid JSON ({exc.msg})") from exc
            messages = record.get("messages") if isinstance(record, dict) else None
            if not isinstance(messages, list) or not messages:
                raise AcademyError(
                    f"{path}, line {number}: expected an object with a non-empty 'messages' list"
                )
            conversations.append(messages)
    if not conversations:
        raise AcademyError(f"{path}: no conversations", "export a dataset version first")
    return conversations


def encode_examples(
    conversations: Sequence[list[dict]],
    formatter: ChatFormatter,
    max_seq_len: int,
    *,
    source: str = "dataset",
) -> tuple[list[Example], int]:
    """Tokenize with loss masks; conversations longer than ``max_seq_len`` are truncated (count returned)."""
    examples, truncated = [], 0
    for number, messages in enumerate(conversations, start=1):
        try:
            ids, mask = formatter.encode_for_training(messages)
        except AcademyError as exc:
            raise AcademyError(f"{source}, conversation {number}: {exc.message}") from exc
        if len(ids) > max_seq_len:
            ids, mask = ids[:max_seq_len], mask[:max_seq_len]
            truncated += 1
        labels = [token if trained else IGNORE for token, trained in zip(ids, mask, strict=True)]
        if any(label != IGNORE for label in labels[1:]):
            examples.append(Example(ids, labels))
    return examples, truncated


def length_grouped_batches(
    examples: Sequence[Example], batch_size: int, seed: int, epoch: int
) -> list[list[int]]:
    """Shuffle, cut into windows of 50 batches, sort each window by length, batch, then shuffle the batches:
    random order, but neighbours in a batch have similar lengths."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(examples)).tolist()
    window = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(examples[i].input_ids))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)  # type: ignore[arg-type]
    return batches


def batch_stream(examples: Sequence[Example], batch_size: int, seed: int) -> Iterator[list[int]]:
    """Endless, reproducible sequence of batches (epoch after epoch)."""
    epoch = 0
    while True:
        yield from length_grouped_batches(examples, batch_size, seed, epoch)
        epoch += 1


def padding_waste(examples: Sequence[Example], batches: Sequence[Sequence[int]]) -> float:
    """Share of pad tokens in the padded batches."""
    real = padded = 0
    for batch in batches:
        lengths = [len(examples[i].input_ids) for i in batch]
        real += sum(lengths)
        padded += max(lengths) * len(lengths)
    return 0.0 if padded == 0 else 1 - real / padded
