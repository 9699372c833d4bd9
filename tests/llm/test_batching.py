"""Replies that wait together are generated as one left-padded batch (``llm.batching``), on the tiny model."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from jedi_academy.llm import GenerationParams
from jedi_academy.llm.batching import BatchingLLM
from jedi_academy.web.model_queue import Cancelled

# prompts of different lengths, so that the batch is left-padded
CONVERSATIONS = [[{"role": "user", "content": "How are you feeling today? " * n}] for n in (1, 9, 3, 14, 2)]


def test_a_batch_equals_the_unbatched_replies_under_greedy_decoding(tiny_llm: Any) -> None:
    # different lengths: the first and third rows finish early, and the last two requests join the running
    # batch in their place (their KV caches left-padded and appended to the batch's)
    params = [GenerationParams(temperature=0, max_tokens=n) for n in (4, 14, 7, 14, 14)]
    alone = [tiny_llm.generate([c], p)[0] for c, p in zip(CONVERSATIONS, params, strict=True)]
    batcher = BatchingLLM(tiny_llm, max_batch=3)
    batcher.prefill_chunk = 40  # the two longest prompts are prefilled in chunks between the batch's steps
    assert sorted(len(tiny_llm.formatter.encode_prompt(c)) > 40 for c in CONVERSATIONS) == [0, 0, 0, 1, 1]
    together = batcher.generate_together(CONVERSATIONS, params, None)
    assert together == alone
    assert batcher.widest == 3  # the requests really shared the decode steps
    assert batcher.joined_running >= 2  # rows joined a batch that was generating


def test_a_sampled_reply_depends_on_its_seed_not_on_the_batch_and_a_cancelled_row_stops_alone(
    tiny_llm: Any,
) -> None:
    batcher = BatchingLLM(tiny_llm, max_batch=4)
    seeded = [GenerationParams(temperature=0.8, top_p=0.9, max_tokens=10, seed=n) for n in range(3)]
    pairs = zip(CONVERSATIONS[:3], seeded, strict=True)
    alone = [batcher.generate_together([c], [p], None)[0] for c, p in pairs]
    together = batcher.generate_together(CONVERSATIONS[:3], seeded, None)
    assert together == alone
    # streaming: the pieces add up to the reply; a reader that gives up (cancel) ends its row only
    pieces: list[str] = []
    outcome: dict[str, Any] = {}

    def refuse(_text: str) -> None:
        raise Cancelled("the therapist left")

    def call(name: str, conversation: Any, sink: Any) -> None:
        try:
            outcome[name] = batcher.stream_generate(conversation, seeded[0], sink)
        except Cancelled as exc:
            outcome[name] = exc

    threads = [
        threading.Thread(target=call, args=("kept", CONVERSATIONS[0], pieces.append)),
        threading.Thread(target=call, args=("left", CONVERSATIONS[1], refuse)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert outcome["kept"] == alone[0] == "".join(pieces)
    assert isinstance(outcome["left"], Cancelled)


def test_the_batch_size_must_be_positive(tiny_llm: Any) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BatchingLLM(tiny_llm, max_batch=0)
