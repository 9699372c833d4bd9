"""Token-by-token generation for ``academy serve``: every new token of every choice, as it is sampled.

:class:`ChoiceStreams` plugs into :meth:`TransformersLLM.generate_ids` through :class:`GenerationHooks`. It
records each step's raw log-probabilities (before temperature, top-p or a grammar, as OpenAI and vLLM report
them), turns new tokens into text deltas that never show part of a stop string or half a UTF-8 character, and
hands each delta to a callback. Streaming and non-streaming replies both come from it, so they cannot differ.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from jedi_academy.llm.base import truncate_at_stop
from jedi_academy.llm.chat_format import ChatFormatter
from jedi_academy.llm.transformers_backend import GenerationHooks


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    logprob: float
    top: list[tuple[int, float]]  # the k most likely tokens at this step, best first


@dataclass
class Delta:
    """New text of one choice, the log-probs of the tokens that produced it, and its end when it ended."""

    index: int
    text: str
    logprobs: list[TokenLogprob]
    finish_reason: str | None = None


@dataclass
class ChoiceState:
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    sent: int = 0  # characters of text already handed out
    text: str = ""
    finish_reason: str | None = None


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters must wait: a possible start of a stop string, or an incomplete
    UTF-8 character (decoded as U+FFFD until its last byte arrives)."""
    hold = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:size]):
                hold = max(hold, size)
                break
    if text.endswith("\ufffd"):
        hold = max(hold, len(text) - len(text.rstrip("\ufffd")))
    return hold


class _RecordLogprobs:
    """A logits processor that keeps the log-softmax of the latest step's raw scores."""

    def __init__(self) -> None:
        self.latest: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.latest = torch.log_softmax(scores.float(), dim=-1)
        return scores


class _NoEndBefore:
    """vLLM's ``min_tokens``: the end-of-sequence token is masked until a row has that many new tokens."""

    def __init__(self, eos_id: int, min_tokens: int, prompt_width: Callable[[], int]) -> None:
        self.eos_id, self.min_tokens, self.prompt_width = eos_id, min_tokens, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] - self.prompt_width() < self.min_tokens:
            scores = scores.clone()
            scores[:, self.eos_id] = -float("inf")
        return scores


class _StopWhen:
    """A stopping criterion that ends every row once ``should_stop()`` is true."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        self.should_stop = should_stop

    def __call__(self, input_ids: torch.Tensor, scores: Any, **_: Any) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), self.should_stop(), dtype=torch.bool, device=input_ids.device
        )


class ChoiceStreams:
    """The HF streamer for ``n`` choices of one request (rows of one or more generation batches)."""

    def __init__(
        self,
        formatter: ChatFormatter,
        n: int,
        *,
        max_tokens: int,
        min_tokens: int = 0,
        stop: Sequence[str] = (),
        top_logprobs: int | None = None,
        on_delta: Callable[[Delta], None] = lambda _: None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.formatter = formatter
        self.choices = [ChoiceState() for _ in range(n)]
        self.max_tokens = max_tokens
        self.min_tokens = min_tokens
        self.stop = [s for s in stop if s]
        self.top_logprobs = top_logprobs  # None: no log-probs wanted
        self.on_delta = on_delta
        self.cancelled = cancelled
        self._recorder = _RecordLogprobs() if top_logprobs is not None else None
        self._first_row = 0
        self._rows = 0
        self._prompt_width = 0
        self._lock = threading.Lock()

    def hooks(self) -> GenerationHooks:
        processors: list[Any] = [self._recorder] if self._recorder is not None else []
        if self.min_tokens:  # after the recorder, which reports the model's own distribution
            eos = self.formatter.eos_id
            processors.append(_NoEndBefore(eos, self.min_tokens, lambda: self._prompt_width))
        return GenerationHooks(
            streamer=self, logits_processors=tuple(processors), stopping_criteria=(_StopWhen(self.cancelled),)
        )

    @property
    def finished(self) -> bool:
        return all(c.finish_reason is not None for c in self.choices)

    # the streamer protocol of transformers' generate: the prompt batch first, then one token per row a step
    def put(self, value: torch.Tensor) -> None:
        if value.dim() == 2:  # a new batch starts with its prompts
            self._first_row += self._rows
            self._rows, self._prompt_width = value.shape
            return
        tokens = value.view(-1).tolist()
        step = self._recorder.latest if self._recorder is not None else None
        with self._lock:
            for row, token in enumerate(tokens):
                self._advance(self._first_row + row, int(token), None if step is None else step[row])

    def end(self) -> None:
        with self._lock:
            for index, choice in enumerate(self.choices[self._first_row : self._first_row + self._rows]):
                if choice.finish_reason is None and not self.cancelled():
                    self._finish(self._first_row + index, "length")

    def _advance(self, index: int, token: int, step: torch.Tensor | None) -> None:
        choice = self.choices[index]
        if choice.finish_reason is not None:
            return  # padding after the row ended
        if token == self.formatter.eos_id:
            self._finish(index, "stop")
            return
        entry = None
        if step is not None:
            top: list[tuple[int, float]] = []
            if self.top_logprobs:
                values, ids = step.topk(self.top_logprobs)
                top = list(zip(ids.tolist(), values.tolist(), strict=True))
            entry = TokenLogprob(token, float(step[token]), top)
        full = self.formatter.decode([*choice.token_ids, token])
        cut = truncate_at_stop(full, self.stop)
        if cut != full:  # this token completed a stop string: it is not part of the reply
            choice.text = cut
            self._finish(index, "stop")
            return
        choice.token_ids.append(token)
        choice.text = full
        if entry is not None:
            choice.logprobs.append(entry)
        if len(choice.token_ids) >= self.max_tokens:
            self._finish(index, "length", [entry] if entry else [])
            return
        ready = len(full) - _held_back(full, self.stop)
        delta = full[choice.sent : ready] if ready > choice.sent else ""
        choice.sent = max(choice.sent, ready)
        if delta or entry is not None:
            self.on_delta(Delta(index, delta, [entry] if entry else []))

    def _finish(self, index: int, reason: str, logprobs: list[TokenLogprob] | None = None) -> None:
        choice = self.choices[index]
        choice.finish_reason = reason
        rest = choice.text[choice.sent :]
        choice.sent = len(choice.text)
        self.on_delta(Delta(index, rest, logprobs or [], reason))
