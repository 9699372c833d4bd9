"""Replies that wait together are generated as one left-padded batch (``llm.batching``), on the tiny model."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

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


def _sorted_nucleus(probabilities: Any, top_p: float) -> Any:
    """The definition, by a full sort: a token stays while the mass before it (most probable first) is under
    top_p."""
    import torch

    values, index = probabilities.sort(dim=-1, descending=True)
    inside = values.cumsum(-1) - values < top_p
    return torch.zeros_like(probabilities, dtype=torch.bool).scatter(1, index, inside)


@pytest.mark.parametrize("spread", [0.05, 1.1, 4.0, 30.0])  # flat (the tiny model's), middling, peaked
def test_the_nucleus_found_by_bands_is_the_one_a_full_sort_finds(spread: float) -> None:
    import torch

    from jedi_academy.llm.batching import nucleus

    generator = torch.Generator().manual_seed(7)
    logits = torch.randn((6, 32768), generator=generator, dtype=torch.float64) * spread
    probabilities = logits.softmax(-1)
    for top_p in (0.05, 0.5, 0.9, 0.95, 0.999):
        found = nucleus(probabilities, top_p)
        assert torch.equal(found, _sorted_nucleus(probabilities, top_p)), (spread, top_p)
        assert torch.equal(nucleus(probabilities, top_p, logits), found)  # banded by the logits alike
        assert bool((found.sum(-1) >= 1).all())  # the most probable token always stays


def test_tied_probabilities_keep_as_many_tokens_as_the_sorted_nucleus() -> None:
    import torch

    from jedi_academy.llm.batching import nucleus

    probabilities = torch.full((2, 1000), 1 / 1000, dtype=torch.float64)
    probabilities[1, :10] = 0.05  # ten tied favourites, then a flat rest
    probabilities[1, 10:] = 0.5 / 990
    for top_p in (0.31, 0.47, 0.83):  # no boundary falls exactly on a sum of the masses
        kept = nucleus(probabilities, top_p).sum(-1)
        assert torch.equal(kept, _sorted_nucleus(probabilities, top_p).sum(-1))


def test_a_next_turn_reuses_the_kept_cache_of_the_last_and_replies_as_if_prefilled_whole(
    tiny_llm: Any,
) -> None:
    system = {"role": "system", "content": "You are Robin. You have felt low for months. " * 6}
    first = [system, {"role": "user", "content": "How was your week?"}]
    greedy = GenerationParams(temperature=0, max_tokens=12)
    batcher = BatchingLLM(tiny_llm, max_batch=2)
    reply = batcher.generate_together([first], [greedy], None)[0]
    assert batcher.prefixes is not None and batcher.prefixes.hits == 0
    second = [
        system,
        {"role": "user", "content": "How was your week?"},
        {"role": "assistant", "content": reply or "..."},
        {"role": "user", "content": "What felt hardest about it?"},
        {"role": "assistant", "content": "Sleeping, mostly."},
        {"role": "user", "content": "And what helped?"},
    ]
    third = [*second[:-1], {"role": "user", "content": "Who did you see?"}]
    batcher.generate_together([second], [greedy], None)
    # the third turn shares the second's beginning (the first exchanges): only the rest is prefilled
    alone = tiny_llm.generate([third], greedy)[0]
    assert batcher.generate_together([third], [greedy], None)[0] == alone
    assert batcher.prefixes.hits >= 1 and batcher.prefixes.reused_tokens >= batcher.prefixes.MIN_SHARED


def test_the_kept_caches_stay_within_their_byte_budget(tiny_llm: Any) -> None:
    batcher = BatchingLLM(tiny_llm, max_batch=2, prefix_cache_bytes=100_000)
    prefixes = batcher.prefixes
    assert prefixes is not None
    greedy = GenerationParams(temperature=0, max_tokens=4)
    for n in range(6):
        conversation = [{"role": "user", "content": f"Tell me about day {n}. " * 8}]
        batcher.generate_together([conversation], [greedy], None)
        assert 0 < prefixes.used <= 100_000
    assert 1 <= len(prefixes) < 6  # the oldest went first (a reply of these prompts keeps ~32 KB)
    assert BatchingLLM(tiny_llm, prefix_cache_bytes=0).prefixes is None


def test_on_a_cpu_chunks_shrink_as_the_cache_grows(tiny_llm: Any) -> None:
    batcher = BatchingLLM(tiny_llm)
    assert batcher.bound_chunk_attention  # the tiny model runs on the CPU here
    assert batcher._chunk_tokens(0) == batcher.prefill_chunk
    sizes = [batcher._chunk_tokens(done) for done in (0, 512, 2048, 8192)]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]
    for done, size in zip((0, 512, 2048, 8192), sizes, strict=True):  # no chunk attends more than the first
        assert size == 32 or size * (done + size) <= batcher.prefill_chunk**2
    batcher.bound_chunk_attention = False  # where attention is cheap (a GPU), chunks keep their size
    assert batcher._chunk_tokens(8192) == batcher.prefill_chunk


def test_a_prepared_next_turn_prefills_only_the_new_words_and_replies_as_if_prefilled_whole(
    tiny_llm: Any,
) -> None:
    system = {"role": "system", "content": "You are Robin. You have felt low for months. " * 6}
    earlier = [
        {"role": "user", "content": "How was your week? " * 10},
        {"role": "assistant", "content": "Long, and mostly grey."},
    ]
    greedy = GenerationParams(temperature=0, max_tokens=12)
    batcher = BatchingLLM(tiny_llm, max_batch=2)
    assert batcher.prefixes is not None
    batcher.prepare([system, *earlier, {"role": "user", "content": ""}])
    deadline = time.monotonic() + 60
    while batcher.prepared == 0 and time.monotonic() < deadline:  # done in the background, nothing else waits
        time.sleep(0.01)
    assert batcher.prepared == 1 and len(batcher.prefixes) == 1
    following = [system, *earlier, {"role": "user", "content": "What felt hardest?"}]
    prompt = tiny_llm.formatter.encode_prompt(following)
    prepared = tiny_llm.formatter.encode_prompt([system, *earlier, {"role": "user", "content": ""}])
    assert prompt[: len(prepared) - 1] == prepared[:-1]  # all but the closing [/INST]
    alone = tiny_llm.generate([following], greedy)[0]
    assert batcher.generate_together([following], [greedy], None)[0] == alone
    assert batcher.prefixes.hits == 1 and batcher.prefixes.reused_tokens == len(prepared) - 1


def test_a_request_takes_over_the_unfinished_preparation_of_its_own_beginning(tiny_llm: Any) -> None:
    from jedi_academy.llm.batching import _Batch, _Preparation

    system = {"role": "system", "content": "You are Robin. You have felt low for months. " * 6}
    opening = {"role": "user", "content": "How was your week? Tell me about the days that felt heaviest."}
    mine = [system, opening, {"role": "assistant", "content": "Grey."}, {"role": "user", "content": ""}]
    # another session that began with the same words: its preparation is not this request's
    theirs = [
        system,
        opening,
        {"role": "assistant", "content": "Fine, thanks."},
        {"role": "user", "content": ""},
    ]
    following = [*mine[:-1], {"role": "user", "content": "What felt hardest?"}]
    batcher = BatchingLLM(tiny_llm, max_batch=2)
    tokens = torch.tensor(tiny_llm.formatter.encode_prompt(mine))
    other = torch.tensor(tiny_llm.formatter.encode_prompt(theirs))
    assert int((tokens[:20] == other[:20]).sum()) >= 16  # they begin alike for more than MIN_SHARED tokens
    half = len(tokens) // 2
    cache, _logits = _Batch(tiny_llm).forward_chunk(tokens[:half].tolist(), 0, None, None)
    # half prefilled when the message comes (queued before the generation thread starts: no race)
    batcher._preparing.extend(
        [_Preparation(other, None, "theirs"), _Preparation(tokens, None, "mine", cache, half)]
    )
    greedy = GenerationParams(temperature=0, max_tokens=10)
    alone = tiny_llm.generate([following], greedy)[0]
    assert batcher.generate_together([following], [greedy], None)[0] == alone
    assert batcher.taken_over == 1
    deadline = time.monotonic() + 60
    while batcher.prepared < 1 and time.monotonic() < deadline:  # the other session's is still done
        time.sleep(0.01)
    assert batcher.prepared == 1 and not batcher._preparing
