"""Training data: Mistral fine-tuning JSONL in; card-visible examples (one per trained assistant turn, the
persona card before it) with assistant-only loss masks out; then token-budget batches of similar lengths, so
padding stays small and every micro-batch holds about the same number of tokens."""

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
    card_visible_tokens: int = 0  # trained tokens placed after the whole persona card
    has_card: bool = False

    @property
    def trained_tokens(self) -> int:
        return sum(label != IGNORE for label in self.labels)


@dataclass(frozen=True)
class EncodedSet:
    """Training examples of a set of conversations (one per trained assistant turn) and how they were cut."""

    examples: list[Example]
    conversations: int
    truncated: int  # examples that lost earlier turns or middle tokens to fit ``max_seq_len``
    dropped: int  # trained turns that could not fit even with the card and the reply's end alone

    @property
    def trained_tokens(self) -> int:
        return sum(e.trained_tokens for e in self.examples)

    @property
    def card_visible_share(self) -> float | None:
        """Share of trained tokens (in examples that have a card) that can attend to the whole card."""
        with_card = [e for e in self.examples if e.has_card]
        trained = sum(e.trained_tokens for e in with_card)
        return None if trained == 0 else sum(e.card_visible_tokens for e in with_card) / trained


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


MIN_TAIL_TOKENS = 16  # a cut example keeps at least this much of its end after the card


def card_end(formatter: ChatFormatter, messages: Sequence[dict], ids: Sequence[int]) -> int | None:
    """Position just past the persona card in ``ids``: from there on every token can attend to the whole card.

    Found by encoding the conversation without its system message: the ids differ only where the card is, so
    the common suffix starts right after it. This works for any chat format (Mistral v3 puts the card into the
    last user turn, other templates put it first). ``None`` when the conversation has no system message."""
    if not messages or messages[0]["role"] != "system":
        return None
    without, _ = formatter.encode_for_training(list(messages[1:]))
    common = 0
    while common < min(len(ids), len(without)) and ids[-1 - common] == without[-1 - common]:
        common += 1
    return len(ids) - common


def _drop_oldest_exchange(messages: list[dict]) -> list[dict] | None:
    """The view without its oldest user/assistant pair, or None when only the trained exchange is left."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if len(users) < 2:
        return None
    first, second = users[0], users[1]
    return messages[:first] + messages[second:]


def encode_view(formatter: ChatFormatter, view: list[dict], max_seq_len: int) -> tuple[Example | None, bool]:
    """Tokenize one view with its loss mask, cut to ``max_seq_len`` from the front (tail truncation).

    Whole earlier exchanges go first; if the card and the trained exchange alone are still too long, the
    tokens between the card and the reply's end are cut, so the card and the final end marker always stay.
    Returns the example (None when nothing trainable fits) and whether it was cut."""
    ids, mask = formatter.encode_for_training(view)
    cut = False
    while len(ids) > max_seq_len:
        shorter = _drop_oldest_exchange(view)
        if shorter is None:
            break
        view, cut = shorter, True
        ids, mask = formatter.encode_for_training(view)
    end_of_card = card_end(formatter, view, ids)
    if len(ids) > max_seq_len:
        head = end_of_card if end_of_card is not None else 1  # keep the card, or at least BOS
        room = max_seq_len - head
        if room < MIN_TAIL_TOKENS:
            return None, True
        ids, mask = ids[:head] + ids[-room:], mask[:head] + mask[-room:]
        cut = True
    labels = [token if trained else IGNORE for token, trained in zip(ids, mask, strict=True)]
    if not any(label != IGNORE for label in labels[1:]):
        return None, cut
    visible = 0
    if end_of_card is not None:
        visible = sum(1 for i, label in enumerate(labels) if label != IGNORE and i >= end_of_card)
    return Example(ids, labels, visible, end_of_card is not None), cut


def encode_examples(
    conversations: Sequence[list[dict]],
    formatter: ChatFormatter,
    max_seq_len: int,
    *,
    source: str = "dataset",
) -> EncodedSet:
    """Card-visible training examples: one per trained assistant turn (see :func:`card_visible_views`)."""
    from jedi_academy.datasets.mistral_format import card_visible_views

    examples: list[Example] = []
    truncated = dropped = 0
    for number, messages in enumerate(conversations, start=1):
        try:
            if not messages or messages[-1].get("role") != "assistant":
                raise AcademyError("a training conversation must end with an assistant message")
            for view in card_visible_views(messages):
                example, cut = encode_view(formatter, view, max_seq_len)
                truncated += cut and example is not None
                if example is None:
                    dropped += 1
                else:
                    examples.append(example)
        except AcademyError as exc:
            raise AcademyError(f"{source}, conversation {number}: {exc.message}") from exc
    return EncodedSet(examples, len(conversations), truncated, dropped)


GROUPING_WINDOW = 1024  # examples sorted together; larger windows pad less but mix less


def length_grouped_batches(
    examples: Sequence[Example],
    batch_tokens: int,
    seed: int,
    epoch: int,
    *,
    max_examples: int | None = None,
) -> list[list[int]]:
    """Token-budget batches: shuffle, sort windows of examples by length, fill each micro-batch while its
    padded size (examples x longest) stays within ``batch_tokens`` (and ``max_examples``), then shuffle the
    batches. Random order, neighbours of similar length, and about the same number of tokens in every
    micro-batch."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(examples)).tolist()
    batches: list[list[int]] = []
    for start in range(0, len(order), GROUPING_WINDOW):
        chunk = sorted(order[start : start + GROUPING_WINDOW], key=lambda i: len(examples[i].input_ids))
        current: list[int] = []
        for index in chunk:
            longest = len(examples[index].input_ids)  # ascending, so the newcomer is the longest
            full = max_examples is not None and len(current) >= max_examples
            if current and (full or (len(current) + 1) * longest > batch_tokens):
                batches.append(current)
                current = []
            current.append(index)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def batch_stream(
    examples: Sequence[Example], batch_tokens: int, seed: int, *, max_examples: int | None = None
) -> Iterator[list[int]]:
    """Endless, reproducible sequence of batches (epoch after epoch)."""
    epoch = 0
    while True:
        yield from length_grouped_batches(examples, batch_tokens, seed, epoch, max_examples=max_examples)
        epoch += 1


def padding_waste(examples: Sequence[Example], batches: Sequence[Sequence[int]]) -> float:
    """Share of pad tokens in the padded batches."""
    real = padded = 0
    for batch in batches:
        lengths = [len(examples[i].input_ids) for i in batch]
        real += sum(lengths)
        padded += max(lengths) * len(lengths)
    return 0.0 if padded == 0 else 1 - real / padded
