"""Replies that wait together are generated together, on the local transformers backend.

A web app has one model and several therapists. :class:`BatchingLLM` wraps a :class:`TransformersLLM` so
that ``stream_generate`` calls from many threads are served by one generation thread, as one left-padded
batch (up to ``max_batch`` rows): eight therapists cost about one decode step each per token, not eight
generations one after another.

A request that arrives while a batch is generating joins it at the next step: its prompt is prefilled on its
own (so its first token comes at once, without re-reading the others' prompts), its KV cache is left-padded
to the batch's and appended, and from then on every step decodes one token for every row; a finished row
leaves the batch. Each row keeps its own stream, limits and stop strings; sampling draws each row's tokens
from that row's own generator, seeded with the request's seed, so a reply does not depend on who else was in
the batch (greedy rows equal the unbatched output). Rows must share the adapter and sampling settings; a
request with another adapter waits until the batch in front of it is finished (it is never overtaken by
later requests).

A conversation's next turn starts with the prompt and reply of its last one, so the key/value cache of each
finished reply is kept (:class:`PrefixCache`, bounded in bytes, least recently used first out): a request
whose prompt begins with a kept sequence prefills only the rest, chunk by chunk like a long prompt. On a CPU
a chunk's attention over a long cache dominates its time, so chunks shrink as the cache grows (at most
``prefill_chunk``² query-key pairs each, and a step prefills at most about that much, nearest-ready prompt
first): a row that joins never waits behind more than about one full chunk.

The next turn's prompt is known, all but the therapist's new words, as soon as a reply ends:
:meth:`BatchingLLM.prepare` prefills it while the therapist reads and types, a chunk at a time in steps that
have no other prefill to do, and keeps it like a finished reply. The message then prefills only its own
words; a message that comes before its preparation is done takes over what was prefilled so far.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from jedi_academy.llm.base import Conversation, GenerationParams, truncate_at_stop

if TYPE_CHECKING:
    from jedi_academy.llm.transformers_backend import TransformersLLM

TextSink = Callable[[str], None]
log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Request:
    prompt: list[int]
    params: GenerationParams
    adapter: str | None
    on_text: TextSink | None
    done: threading.Event = field(default_factory=threading.Event)
    text: str | None = None
    error: BaseException | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        """What rows of one batch must share (everything but the seed)."""
        p = self.params
        return (self.adapter, p.temperature, p.top_p, p.stop)


class _Row:
    """One request inside the batch: its tokens so far, its stream, its generator."""

    def __init__(self, request: _Request, llm: TransformersLLM) -> None:
        from jedi_academy.llm.transformers_backend import _TextStreamer

        self.request = request
        sink = request.on_text or (lambda _text: None)
        self.streamer = _TextStreamer(llm.formatter, sink, request.params.stop)
        self.streamer.prompt_seen = True  # the batch hands over new tokens only
        self.eos = llm.formatter.eos_id
        self.generator: torch.Generator | None = None
        if request.params.temperature > 0:
            self.generator = torch.Generator(device=llm.device)
            seed = request.params.seed
            self.generator.manual_seed(seed if seed is not None else int(torch.seed()))
        self.steps = 0
        self.finished = False

    @property
    def tokens(self) -> list[int]:
        return self.request.prompt + self.streamer.ids

    def take(self, token: int) -> None:
        if self.finished:
            return
        self.steps += 1
        try:
            self.streamer.put(torch.tensor([token]))
        except BaseException as exc:  # the caller's sink refused (cancelled): this row only
            self.request.error = exc
            self.finished = True
            return
        if token == self.eos or self.streamer.done or self.steps >= self.request.params.max_tokens:
            self.finished = True


def _choose(rows: list[_Row], logits: torch.Tensor) -> list[int]:
    """Each row's next token: the argmax for greedy rows; for sampled rows a draw from the row's own
    generator after temperature and top-p (:func:`nucleus`). The rows of a batch share temperature and top-p,
    so the distributions are computed for all rows at once; only the uniform draws are per row (one per step
    from each row's generator), inverted over the kept tokens in vocabulary order."""
    scores = logits.float()
    params = rows[0].request.params
    if params.temperature == 0:
        return [int(token) for token in scores.argmax(-1).tolist()]
    scaled = scores / params.temperature
    probabilities = scaled.softmax(-1)
    if params.top_p < 1.0:
        probabilities = probabilities * nucleus(probabilities, params.top_p, scaled)
    cumulative = probabilities.cumsum(-1)
    draws = torch.stack(
        [torch.rand((), generator=row.generator, device=row.generator.device) for row in rows]  # type: ignore[union-attr]
    ).to(cumulative.device)
    # the first token whose cumulative mass passes the draw: never one left out (its mass adds nothing)
    picked = torch.searchsorted(cumulative, (draws * cumulative[:, -1]).unsqueeze(-1), right=True)
    return [int(token) for token in picked.clamp(max=cumulative.shape[-1] - 1).squeeze(-1).tolist()]


BUCKETS = 512  # log-probability bands per row; only the band where the nucleus ends is sorted


def nucleus(probabilities: torch.Tensor, top_p: float, logits: torch.Tensor | None = None) -> torch.Tensor:
    """For each row, the smallest set of most probable tokens whose mass reaches ``top_p`` (a token is kept
    while the mass of the tokens before it, most probable first, is under ``top_p``), as a boolean mask.
    ``logits``: the scores ``probabilities`` is the softmax of (they band alike, without a logarithm).

    Sorting a 32,768-token vocabulary per row was most of a small model's decode step. Instead the tokens
    are grouped into equal bands of log-probability (one pass): bands above the one where the mass before
    reaches ``top_p`` are kept whole, bands below are left out, and only that one band is sorted."""
    rows, _vocab = probabilities.shape
    if logits is None:
        logits = probabilities.clamp_min(torch.finfo(probabilities.dtype).tiny).log()
    high = logits.amax(-1, keepdim=True)
    # a hair over 1/BUCKETS of the range per band, so that the least probable token falls in the last band
    scale = BUCKETS * (1 - 1e-6) / (high - logits.amin(-1, keepdim=True)).clamp_min(1e-6)
    band = ((high - logits) * scale).long()  # 0: the most probable band (truncation is floor here)
    mass = probabilities.new_zeros((rows, BUCKETS)).scatter_add_(1, band, probabilities)
    before = mass.cumsum(-1) - mass  # the mass of the more probable bands
    boundary = (before < top_p).sum(-1, keepdim=True) - 1  # the last band that starts under top_p
    keep = band < boundary
    # the boundary band's tokens, most probable first, for every row at once (the others' values are -1)
    member = band == boundary
    values, index = torch.where(member, probabilities, -1.0).topk(int(member.sum(-1).max()), dim=-1)
    present = values >= 0
    weight = values.clamp_min(0)
    inside = (before.gather(1, boundary) + weight.cumsum(-1) - weight < top_p) & present
    keep.scatter_(1, index, torch.where(present, inside, keep.gather(1, index)))
    return keep


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _new_cache(layers: list[tuple[torch.Tensor, torch.Tensor]]) -> Any:
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=layers)


@dataclass(eq=False)
class _Kept:
    tokens: torch.Tensor  # [n] the token ids whose keys and values are kept
    adapter: str | None
    layers: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, keys and values [1, heads, n, dim]
    size: int  # bytes


class PrefixCache:
    """Key/value caches of finished replies (prompt and reply), most recently used last, at most
    ``max_bytes`` in all: a new prompt reuses the one it shares the longest beginning with."""

    MIN_SHARED = 16  # fewer shared tokens are not worth a copy of the cache

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._kept: OrderedDict[int, _Kept] = OrderedDict()
        self._next = 0
        self.used = 0
        self.hits = 0  # prompts that reused a kept beginning
        self.reused_tokens = 0  # prompt tokens not prefilled again thanks to it

    def keep(
        self, tokens: list[int], adapter: str | None, layers: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> None:
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        if len(tokens) < self.MIN_SHARED or size > self.max_bytes:
            return
        ids = torch.tensor(tokens)
        for key, kept in list(self._kept.items()):  # a kept sequence that this one extends is dropped
            if (
                kept.adapter == adapter
                and len(kept.tokens) <= len(ids)
                and torch.equal(ids[: len(kept.tokens)], kept.tokens)
            ):
                self._drop(key)
        while self._kept and self.used + size > self.max_bytes:
            self._drop(next(iter(self._kept)))
        self._kept[self._next] = _Kept(ids, adapter, layers, size)
        self._next += 1
        self.used += size

    def __len__(self) -> int:
        return len(self._kept)

    def _drop(self, key: int) -> None:
        self.used -= self._kept.pop(key).size

    def reuse(self, prompt: list[int], adapter: str | None, *, count: bool = True) -> tuple[int, Any] | None:
        """The longest kept beginning of ``prompt`` (at least one prompt token is left to prefill, whose
        logits give the first reply token): its length and a cache holding just it; None when none is.
        ``count``: add it to ``hits`` and ``reused_tokens`` (a request's prompt; not a preparation)."""
        ids = torch.tensor(prompt)
        best: tuple[int, int] | None = None
        for key, kept in self._kept.items():
            if kept.adapter != adapter:
                continue
            shared = _shared(kept.tokens, ids, len(ids) - 1)
            if shared >= self.MIN_SHARED and (best is None or shared > best[1]):
                best = (key, shared)
        if best is None:
            return None
        key, shared = best
        self._kept.move_to_end(key)
        if count:
            self.hits += 1
            self.reused_tokens += shared
        return shared, _slice_cache(self._kept[key].layers, shared, copy=True)


def _shared(first: torch.Tensor, second: torch.Tensor, at_most: int) -> int:
    """How many tokens two sequences begin with alike, at most ``at_most``."""
    width = max(0, min(len(first), len(second), at_most))
    differ = (first[:width] != second[:width]).nonzero()
    return int(differ[0]) if len(differ) else width


def _slice_cache(layers: list[tuple[torch.Tensor, torch.Tensor]], length: int, *, copy: bool) -> Any:
    """A cache of the first ``length`` positions of ``layers`` (copied where the original is kept)."""
    if copy:
        return _new_cache([(k[:, :, :length].clone(), v[:, :, :length].clone()) for k, v in layers])
    return _new_cache([(k[:, :, :length], v[:, :, :length]) for k, v in layers])


@dataclass(eq=False)
class _Preparation:
    """A prompt expected soon (a session's next turn without its new words), prefilled when nothing else
    needs a prefill, then kept in the :class:`PrefixCache`."""

    tokens: torch.Tensor
    adapter: str | None
    key: str | None = None  # what it is for (a session): a newer one with the same key replaces it
    cache: Any = None
    done: int = 0


class BatchingLLM:
    """A :class:`TransformersLLM` whose ``stream_generate`` batches concurrent calls; every other attribute
    is the wrapped model's (``generate``, ``loglikelihood``, ``formatter``, ``model``)."""

    # a prompt continues a preparation when it begins with all of it but at most this many last tokens (the
    # empty message's end: "[/INST]", or what a chat template puts around a message)
    PREPARED_TAIL = 8

    def __init__(self, llm: TransformersLLM, max_batch: int = 8, prefix_cache_bytes: int = 1 << 30) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._llm = llm
        self.max_batch = max_batch
        self.prefixes = PrefixCache(prefix_cache_bytes) if prefix_cache_bytes > 0 else None
        self._changed = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._preparing: deque[_Preparation] = deque()  # oldest first; at most max_batch are waiting
        self.prepared = 0  # preparations finished and kept
        self.taken_over = 0  # preparations a request took over before they were finished
        self._thread: threading.Thread | None = None
        self.steps = 0  # forward passes made, since start (prefills of joining rows and decode steps)
        self.widest = 0  # the most rows one batch had
        self.joined_running = 0  # times requests joined a batch that was already generating
        self.prefill_chunk = 512  # a longer prompt is prefilled in chunks, between the batch's steps
        # on a CPU a chunk also holds at most prefill_chunk² query-key pairs (GPUs attend fast enough)
        self.bound_chunk_attention = getattr(llm, "device", torch.device("cpu")).type == "cpu"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    @property
    def inner(self) -> TransformersLLM:
        return self._llm

    def stream_generate(
        self,
        conversation: Conversation,
        params: GenerationParams,
        on_text: TextSink | None,
        adapter: str | None = None,
    ) -> str:
        """As :meth:`TransformersLLM.stream_generate`, generated in a batch with whatever else waits."""
        if params.json_schema is not None:  # constrained decoding is per request
            return self._llm.stream_generate(conversation, params, on_text or (lambda _t: None), adapter)
        request = _Request(self._llm.formatter.encode_prompt(conversation), params, adapter, on_text)
        self.submit([request])
        request.done.wait()
        if request.error is not None:
            raise request.error
        assert request.text is not None
        return request.text

    def generate_together(
        self, conversations: Sequence[Conversation], params: Sequence[GenerationParams], adapter: str | None
    ) -> list[str]:
        """Several replies submitted at once (they start in one batch): for tests and benchmarks."""
        requests = [
            _Request(self._llm.formatter.encode_prompt(c), p, adapter, None)
            for c, p in zip(conversations, params, strict=True)
        ]
        self.submit(requests)
        for request in requests:
            request.done.wait()
            if request.error is not None:
                raise request.error
        return [r.text or "" for r in requests]

    def prepare(
        self, conversation: Conversation, adapter: str | None = None, *, key: str | None = None
    ) -> None:
        """Prefill ``conversation`` (the next turn's prompt with an empty message: its earlier exchanges and
        the persona prompt) when the model has time, for a request that will begin the same way; returns at
        once. Nothing is done without a prefix cache. ``key`` says what it is for (a session): a newer
        preparation with the same key replaces the older."""
        if self.prefixes is None:
            return
        tokens = torch.tensor(self._llm.formatter.encode_prompt(conversation))
        with self._changed:
            if key is not None:
                for waiting in [w for w in self._preparing if w.key == key]:
                    self._preparing.remove(waiting)
            self._preparing.append(_Preparation(tokens, adapter, key))
            while len(self._preparing) > self.max_batch:
                self._preparing.popleft()
            self._start()
            self._changed.notify_all()

    def _take_preparation(self, request: _Request, kept: tuple[int, Any] | None) -> tuple[int, Any] | None:
        """Where ``request`` starts: ``kept`` (the prefix cache's best), or what the preparation that its
        prompt continues (all of it but its last few tokens, where the empty message was) prefilled so far,
        where that is more. That preparation leaves the queue either way: the request prefills the rest."""
        prompt = torch.tensor(request.prompt)
        mine: _Preparation | None = None
        with self._changed:
            for waiting in self._preparing:
                least = max(len(waiting.tokens) - self.PREPARED_TAIL, PrefixCache.MIN_SHARED)
                continued = _shared(waiting.tokens, prompt, len(prompt) - 1) >= least
                if waiting.adapter == request.adapter and continued:
                    mine = waiting
                    break
            if mine is not None:
                self._preparing.remove(mine)
        if mine is None or mine.cache is None:
            return kept
        shared = _shared(mine.tokens, prompt, min(mine.done, len(prompt) - 1))
        if shared < PrefixCache.MIN_SHARED or (kept is not None and kept[0] >= shared):
            return kept
        self.taken_over += 1
        return shared, _slice_cache(_layers(mine.cache), shared, copy=False)

    def _prepare_step(self, batch: _Batch) -> None:
        """One chunk of the oldest preparation (as long as a joining prompt's chunk may be); a finished one is
        kept. A preparation that fails is dropped: nobody waits for it."""
        with self._changed:
            if not self._preparing:
                return
            job = self._preparing[0]
        assert self.prefixes is not None
        try:
            if job.cache is None and job.done == 0:
                kept = self.prefixes.reuse(job.tokens.tolist(), job.adapter, count=False)
                if kept is not None:
                    job.done, job.cache = kept
            end = min(len(job.tokens), job.done + self._chunk_tokens(job.done))
            chunk = job.tokens[job.done : end].tolist()
            job.cache, _logits = batch.forward_chunk(chunk, job.done, job.cache, job.adapter)
            job.done = end
        except Exception as exc:
            log.warning("preparing a prompt failed (its request will prefill it): %s", exc)
            with self._changed:
                if job in self._preparing:
                    self._preparing.remove(job)
            return
        if job.done < len(job.tokens):
            return
        with self._changed:
            if job not in self._preparing:  # a request took it over meanwhile
                return
            self._preparing.remove(job)
        self.prefixes.keep(job.tokens.tolist(), job.adapter, _layers(job.cache))
        self.prepared += 1

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name="reply-batches", daemon=True)
            self._thread.start()

    def submit(self, requests: Sequence[_Request]) -> None:
        with self._changed:
            self._pending.extend(requests)
            self._start()
            self._changed.notify_all()

    # ------------------------------------------------------------------ the generation thread

    def _chunk_tokens(self, done: int) -> int:
        """How many prompt tokens the next chunk of a prompt with ``done`` tokens cached prefills."""
        size = self.prefill_chunk
        if not self.bound_chunk_attention:
            return size
        while size > 32 and self._chunk_cost(done, size) > self._chunk_cost(0, self.prefill_chunk):
            size //= 2
        return size

    def _whole_chunk(self, done: int) -> int:
        return self.prefill_chunk

    def _chunk_cost(self, done: int, size: int) -> int:
        """What a chunk costs: its query-key pairs on a CPU, its tokens where attention is cheap."""
        return size * (done + size) if self.bound_chunk_attention else size

    def _serve(self) -> None:
        batch = _Batch(self._llm, self.prefixes)
        while True:
            with self._changed:
                while not batch.rows and not batch.prefilling and not self._pending and not self._preparing:
                    self._changed.wait()
                members = batch.members()
                waiting = self._pending[0].key if self._pending else None  # None: only preparations wait
                key = members[0].request.key if members else waiting
                # join in arrival order, and only while the oldest waiting request fits this batch, so a
                # request with another adapter is never overtaken by later ones
                joining: list[_Row] = []
                while (
                    self._pending
                    and len(members) + len(joining) < self.max_batch
                    and self._pending[0].key == key
                ):
                    joining.append(_Row(self._pending.popleft(), self._llm))
            try:
                short = []
                for row in joining:
                    request = row.request
                    kept = self.prefixes.reuse(request.prompt, request.adapter) if self.prefixes else None
                    if self._preparing:
                        kept = self._take_preparation(request, kept)
                    if kept is not None:  # only what follows the kept beginning is prefilled
                        batch.prefilling.append(_Prefill(row, cache=kept[1], done=kept[0]))
                    elif len(request.prompt) <= self.prefill_chunk:
                        short.append(row)
                    else:
                        batch.prefilling.append(_Prefill(row))
                # one prefill (the short prompts that came, or a chunk of a long one), then one decode step:
                # a long prompt never holds the other rows up for more than a chunk
                if short:
                    self.joined_running += bool(batch.rows)
                    batch.join(short)  # their prompts' prefill gives their first tokens at once
                elif batch.prefilling:
                    running = bool(batch.rows)
                    # nobody waits behind this prompt: whole chunks (the bounds are for the others)
                    alone = not running and len(batch.prefilling) == 1 and not self._pending
                    joined = batch.prefill(
                        self._whole_chunk if alone else self._chunk_tokens,
                        self._chunk_cost,
                        self._chunk_cost(0, self.prefill_chunk),
                    )
                    self.joined_running += joined if running else 0
                if batch.rows:
                    batch.decode()
            except BaseException as exc:  # the model failed: every row of the batch is told
                everyone = list(dict.fromkeys([*batch.members(), *joining]))
                for row in everyone:
                    row.request.error = row.request.error or exc
                    row.finished = True
                batch.rows, batch.prefilling = everyone, deque()
            if not joining and not batch.prefilling and self._preparing:
                self._prepare_step(batch)  # only in a step with no prompt of a request to prefill
            self.steps += 1
            self.widest = max(self.widest, len(batch.rows))
            batch.keep_finished()  # before the callers hear: a conversation's next turn finds its reply kept
            for row in batch.rows:
                if row.finished:
                    self._complete(row)
            batch.drop_finished()

    def _complete(self, row: _Row) -> None:
        request = row.request
        if request.error is None:
            request.text = truncate_at_stop(self._llm.formatter.decode(row.streamer.ids), request.params.stop)
            try:
                row.streamer.finish(request.text)
            except BaseException as exc:  # reported to its caller
                request.error = exc
        request.done.set()


@dataclass(eq=False)
class _Prefill:
    """A long prompt being prefilled chunk by chunk, alone (no padding), before it joins the batch."""

    row: _Row
    cache: Any = None
    done: int = 0  # prompt tokens in the cache


class _Batch:
    """The rows being generated, with their KV cache: rows join after a prefill of their own prompts (the
    caches are left-padded to one length), every step decodes one token for every row, finished rows leave."""

    def __init__(self, llm: TransformersLLM, prefixes: PrefixCache | None = None) -> None:
        self.llm = llm
        self.prefixes = prefixes
        self.rows: list[_Row] = []
        self.cache: Any = None
        self.mask: torch.Tensor | None = None  # [rows, cached positions]: 1 for a real token
        self.last: torch.Tensor | None = None  # [rows]: each row's newest token, not yet in the cache
        self.prefilling: deque[_Prefill] = deque()

    def members(self) -> list[_Row]:
        return [*self.rows, *(job.row for job in self.prefilling)]

    def _forward(self, adapter: str | None, **inputs: Any) -> Any:
        with self.llm.using_adapter(adapter), torch.inference_mode():
            return self.llm.model(use_cache=True, logits_to_keep=1, **inputs)

    def join(self, joining: list[_Row]) -> None:
        device, pad = self.llm.device, self.llm.formatter.pad_id
        prompts = [row.request.prompt for row in joining]
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        adapter = joining[0].request.adapter
        out = self._forward(adapter, input_ids=ids, attention_mask=mask, position_ids=positions)
        self._merge(joining, out.cache, mask, out.logits[:, -1])

    def prefill(
        self, chunk_tokens: Callable[[int], int], cost: Callable[[int, int], int], budget: int
    ) -> int:
        """Chunks of the waiting prompts, the one with the least left first (a row that is nearly ready is
        not held up behind a long prompt), until their cost reaches ``budget`` (one chunk at least); a
        prompt whose last chunk is done joins the batch. Returns how many joined."""
        joined = spent = 0
        while self.prefilling and (spent == 0 or spent < budget):
            job = min(self.prefilling, key=lambda waiting: len(waiting.row.request.prompt) - waiting.done)
            start = job.done
            size = chunk_tokens(start)
            spent += cost(start, size)
            joined += self._prefill_chunk(job, size)
        return joined

    def forward_chunk(
        self, tokens: list[int], start: int, cache: Any, adapter: str | None
    ) -> tuple[Any, torch.Tensor]:
        """``tokens`` at positions ``start``…, after ``cache`` (the ``start`` tokens before them, or None):
        the cache that holds them all, and the logits after the last."""
        device, end = self.llm.device, start + len(tokens)
        inputs: dict[str, Any] = {
            "input_ids": torch.tensor([tokens], device=device),
            "position_ids": torch.arange(start, end, device=device).unsqueeze(0),
            "attention_mask": torch.ones((1, end), dtype=torch.long, device=device),
        }
        if cache is not None:
            inputs["cache"] = cache
        out = self._forward(adapter, **inputs)
        return out.cache, out.logits[:, -1]

    def _prefill_chunk(self, job: _Prefill, size: int) -> bool:
        """One chunk of ``job``'s prompt; after its last, the row joins the batch (True)."""
        prompt, start = job.row.request.prompt, job.done
        end = min(len(prompt), start + size)
        job.cache, logits = self.forward_chunk(prompt[start:end], start, job.cache, job.row.request.adapter)
        job.done = end
        if end < len(prompt):
            return False
        self.prefilling.remove(job)
        mask = torch.ones((1, end), dtype=torch.long, device=self.llm.device)
        self._merge([job.row], job.cache, mask, logits)
        return True

    def _merge(self, joining: list[_Row], cache: Any, mask: torch.Tensor, logits: torch.Tensor) -> None:
        """Rows whose prompts are in ``cache``: their first tokens, then their caches into the batch's."""
        tokens = _choose(joining, logits)
        for row, token in zip(joining, tokens, strict=True):
            row.take(token)
        new_last = torch.tensor(tokens, device=self.llm.device)
        if self.cache is None or self.mask is None or self.last is None:
            self.cache, self.mask, self.last = cache, mask, new_last
        else:
            length = max(self.mask.shape[1], mask.shape[1])
            self.cache = _new_cache(
                [
                    (
                        torch.cat([_left_pad(k0, length, 2), _left_pad(k1, length, 2)]),
                        torch.cat([_left_pad(v0, length, 2), _left_pad(v1, length, 2)]),
                    )
                    for (k0, v0), (k1, v1) in zip(_layers(self.cache), _layers(cache), strict=True)
                ]
            )
            self.mask = torch.cat([_left_pad(self.mask, length, 1), _left_pad(mask, length, 1)])
            self.last = torch.cat([self.last, new_last])
        self.rows.extend(joining)

    def decode(self) -> None:
        assert self.mask is not None and self.last is not None
        positions = self.mask.sum(-1, keepdim=True)  # each row's real tokens so far: the new one's position
        mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], dim=1)
        out = self._forward(
            self.rows[0].request.adapter,
            input_ids=self.last.unsqueeze(-1),
            attention_mask=mask,
            position_ids=positions,
            cache=self.cache,
        )
        self.cache, self.mask = out.cache, mask
        tokens = _choose(self.rows, out.logits[:, -1])
        for row, token in zip(self.rows, tokens, strict=True):
            row.take(token)
        self.last = torch.tensor(tokens, device=self.llm.device)

    def drop_finished(self) -> None:
        keep = [index for index, row in enumerate(self.rows) if not row.finished]
        if len(keep) == len(self.rows):
            return
        self.rows = [self.rows[index] for index in keep]
        if not keep or self.mask is None or self.last is None:
            self.rows, self.cache, self.mask, self.last = [], None, None, None
            return
        chosen = torch.tensor(keep, device=self.llm.device)
        mask = self.mask.index_select(0, chosen)
        first = int((mask.sum(0) > 0).nonzero()[0])  # columns that are padding for every row left go
        self.mask = mask[:, first:]
        self.last = self.last.index_select(0, chosen)
        self.cache = _new_cache(
            [
                (k.index_select(0, chosen)[:, :, first:], v.index_select(0, chosen)[:, :, first:])
                for k, v in _layers(self.cache)
            ]
        )

    def keep_finished(self) -> None:
        """Keep the finished rows' keys and values for the prompts that will begin with them."""
        if self.prefixes is None or self.mask is None or len(self.mask) != len(self.rows):
            return
        for index, row in enumerate(self.rows):
            if row.finished and row.request.error is None:
                self._keep_prefix(index, row)

    def _keep_prefix(self, index: int, row: _Row) -> None:
        """The finished row's keys and values: its real tokens are the rightmost of its cache row, the prompt
        and the reply's tokens but the last drawn (never fed back; an end-of-sequence token is not a reply
        token), so the first ``cached`` of ``row.tokens``."""
        assert self.prefixes is not None and self.mask is not None
        cached = int(self.mask[index].sum())
        tokens = row.tokens[:cached]
        layers = [
            (k[index : index + 1, :, -cached:].clone(), v[index : index + 1, :, -cached:].clone())
            for k, v in _layers(self.cache)
        ]
        self.prefixes.keep(tokens, row.request.adapter, layers)


def batch_replies(max_batch: int) -> Callable[[Any], Any]:
    """A ``ModelPool.wrap``: local transformers models batch their replies, any other backend is left as it
    is (an OpenAI-compatible server batches concurrent requests itself)."""

    def wrap(llm: Any) -> Any:
        if getattr(llm, "backend_name", None) == "transformers" and max_batch > 1:
            return BatchingLLM(llm, max_batch)
        return llm

    return wrap
