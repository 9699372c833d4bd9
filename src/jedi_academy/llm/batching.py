"""Replies that wait together are generated together, on the local transformers backend.

A web app has one model and several therapists. :class:`BatchingLLM` wraps a :class:`TransformersLLM` so
that ``stream_generate`` calls from many threads are served by one generation thread, as one left-padded
batch (up to ``max_batch`` rows): eight therapists cost about one decode step each per token, not eight
generations one after another.

A request that arrives while a batch is generating joins it at the next token: the running ``generate`` is
stopped after the current step and restarted with every row's prompt plus what it has generated so far (one
prefill), so nobody waits for another's whole reply before their first token. Each row keeps its own
stream, limits and stop strings; sampling draws each row's tokens from that row's own generator, seeded with
the request's seed, so a reply does not depend on who else was in the batch (greedy rows equal the unbatched
output). Rows must share the adapter and sampling settings; a request with another adapter waits until the
batch in front of it is finished (it is never overtaken by later requests).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from jedi_academy.llm.base import Conversation, GenerationParams, truncate_at_stop

if TYPE_CHECKING:
    from jedi_academy.llm.transformers_backend import TransformersLLM

TextSink = Callable[[str], None]


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


class _FanOut:
    """A transformers streamer for the whole batch: each row's new token goes to that row."""

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            row.take(int(token))

    def end(self) -> None:
        pass


class _RowStops:
    """Stopping criterion: a row is done when its own limits say so; every row pauses when a waiting request
    can join (the batch is restarted with it at once)."""

    def __init__(self, rows: list[_Row], join: Callable[[], bool]) -> None:
        self.rows = rows
        self.join = join

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
        done = [row.finished for row in self.rows]
        if not all(done) and self.join():
            done = [True] * len(done)
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _RowSampler:
    """Logits processor that samples each row with its own generator (temperature, then top-p), and leaves
    only the drawn token for the greedy step to pick."""

    def __init__(self, rows: list[_Row], temperature: float, top_p: float) -> None:
        self.rows = rows
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        chosen = torch.full_like(scores, float("-inf"))
        for index, row in enumerate(self.rows):
            logits = scores[index].float() / self.temperature
            if self.top_p < 1.0:
                ordered, order = logits.sort(descending=True)
                cumulative = ordered.softmax(-1).cumsum(-1)
                drop = cumulative - ordered.softmax(-1) >= self.top_p  # keep the smallest set reaching top_p
                logits = logits.clone()
                logits[order[drop]] = float("-inf")
            token = torch.multinomial(logits.softmax(-1), 1, generator=row.generator)
            chosen[index, token] = 0.0
        return chosen


class BatchingLLM:
    """A :class:`TransformersLLM` whose ``stream_generate`` batches concurrent calls; every other attribute
    is the wrapped model's (``generate``, ``loglikelihood``, ``formatter``, ``model``)."""

    def __init__(self, llm: TransformersLLM, max_batch: int = 8) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._llm = llm
        self.max_batch = max_batch
        self._changed = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._thread: threading.Thread | None = None
        self.batches = 0  # generate calls made, since start (restarts included)
        self.widest = 0  # the most rows one generate call had

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

    def submit(self, requests: Sequence[_Request]) -> None:
        with self._changed:
            self._pending.extend(requests)
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="reply-batches", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    # ------------------------------------------------------------------ the generation thread

    def _serve(self) -> None:
        rows: list[_Row] = []
        while True:
            with self._changed:
                while not rows and not self._pending:
                    self._changed.wait()
                key = rows[0].request.key if rows else self._pending[0].key
                # join in arrival order, and only while the oldest waiting request fits this batch, so a
                # request with another adapter is never overtaken by later ones
                while self._pending and len(rows) < self.max_batch and self._pending[0].key == key:
                    rows.append(_Row(self._pending.popleft(), self._llm))
            try:
                self._step(rows, key)
            except BaseException as exc:  # the model failed: every row of the batch is told
                for row in rows:
                    row.request.error = row.request.error or exc
                    row.finished = True
            for row in rows:
                if row.finished:
                    self._complete(row)
            rows = [row for row in rows if not row.finished]

    def _joinable(self, key: tuple[Any, ...], size: int) -> bool:
        with self._changed:
            return size < self.max_batch and bool(self._pending) and self._pending[0].key == key

    def _complete(self, row: _Row) -> None:
        request = row.request
        if request.error is None:
            request.text = truncate_at_stop(self._llm.formatter.decode(row.streamer.ids), request.params.stop)
            try:
                row.streamer.finish(request.text)
            except BaseException as exc:  # reported to its caller
                request.error = exc
        request.done.set()

    def _step(self, rows: list[_Row], key: tuple[Any, ...]) -> None:
        """One ``generate`` call over ``rows``, until each is done or a waiting request can join."""
        from transformers import LogitsProcessorList, StoppingCriteriaList

        llm = self._llm
        sequences = [row.tokens for row in rows]
        width = max(len(s) for s in sequences)
        pad = llm.formatter.pad_id
        input_ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=llm.device)
        attention = torch.tensor(
            [[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=llm.device
        )
        params = rows[0].request.params
        options: dict[str, Any] = {
            "max_new_tokens": max(row.request.params.max_tokens - row.steps for row in rows),
            "pad_token_id": pad,
            "eos_token_id": llm.formatter.eos_id,
            "do_sample": False,
            "temperature": None,
            "top_p": None,
            "top_k": None,
            "streamer": _FanOut(rows),
            "stopping_criteria": StoppingCriteriaList(
                [_RowStops(rows, lambda: self._joinable(key, sum(not r.finished for r in rows)))]
            ),
        }
        if params.temperature > 0:
            options["logits_processor"] = LogitsProcessorList(
                [_RowSampler(rows, params.temperature, params.top_p)]
            )
        with llm.using_adapter(rows[0].request.adapter), torch.inference_mode():
            llm.model.generate(input_ids=input_ids, attention_mask=attention, **options)
        self.batches += 1
        self.widest = max(self.widest, len(rows))


def batch_replies(max_batch: int) -> Callable[[Any], Any]:
    """A ``ModelPool.wrap``: local transformers models batch their replies, any other backend is left as it
    is (an OpenAI-compatible server batches concurrent requests itself)."""

    def wrap(llm: Any) -> Any:
        if getattr(llm, "backend_name", None) == "transformers" and max_batch > 1:
            return BatchingLLM(llm, max_batch)
        return llm

    return wrap
