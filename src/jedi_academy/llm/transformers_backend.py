"""Local Hugging Face causal LMs (CPU or GPU), with PEFT LoRA adapters chosen per request.

Generation is batched with left padding. Scoring (``loglikelihood``) is batched with right padding; requests
that share a prompt (the options of one questionnaire item, say) run the prompt once and reuse its KV cache.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from jedi_academy.errors import ModelLoadError
from jedi_academy.llm.base import (
    Conversation,
    GenerationParams,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    truncate_at_stop,
    validate_conversation,
)
from jedi_academy.llm.chat_format import ChatFormatter, load_formatter
from jedi_academy.llm.loading import quiet_hf_libraries, resolve_model_dir

if TYPE_CHECKING:
    from jedi_academy.config import Settings


@dataclass(frozen=True)
class Generated:
    token_ids: list[int]
    text: str
    finish_reason: str  # "stop" (EOS or a stop string) or "length"


@dataclass(frozen=True)
class GenerationHooks:
    """What a server attaches to one generation: a streamer that gets every new token, logits processors
    that see each step's raw logits first (before temperature, top-p or a grammar), and stopping criteria
    that can end it early (client gone, server shutting down)."""

    streamer: Any = None
    logits_processors: tuple[Any, ...] = ()
    stopping_criteria: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TokenScore:
    token_id: int
    logprob: float
    rank: int  # 1 = the model's most likely token at this position
    top: list[tuple[int, float]]  # the k most likely tokens at this position, best first


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError as exc:
        raise ModelLoadError(f"unknown device {device!r}", "use auto, cpu, cuda or cuda:N") from exc
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            f"device {device!r}: CUDA is not available (torch {torch.__version__}, no usable GPU)",
            "use --device cpu or auto",
        )
    return chosen


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in table:
        raise ModelLoadError(f"unknown dtype {dtype!r}", f"use auto or one of {', '.join(table)}")
    return table[dtype]


class _StopOnStrings:
    """Stopping criterion: a row is done once its new text contains a stop string."""

    def __init__(self, formatter: ChatFormatter, stops: Sequence[str], prompt_length: int) -> None:
        self.formatter = formatter
        self.stops = [s for s in stops if s]
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **_: Any) -> torch.Tensor:
        done = [
            any(stop in self.formatter.decode(row[self.prompt_length :].tolist()) for stop in self.stops)
            for row in input_ids
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _TextStreamer:
    """A transformers streamer (``put``/``end``) that decodes the new tokens of one row and passes on the text
    that is final: nothing past EOS or a stop string, no half of a multi-byte character."""

    def __init__(
        self, formatter: ChatFormatter, on_text: Callable[[str], None], stops: Sequence[str]
    ) -> None:
        self.formatter = formatter
        self.on_text = on_text
        self.stops = [s for s in stops if s]
        self.ids: list[int] = []
        self.sent = ""
        self.prompt_seen = False
        self.done = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first hands over the prompt
            self.prompt_seen = True
            return
        if self.done:
            return
        for token in value.reshape(-1).tolist():
            if token == self.formatter.eos_id:
                self.done = True
                return
            self.ids.append(int(token))
        text = self.formatter.decode(self.ids)
        cut = truncate_at_stop(text, self.stops)
        if cut != text:
            self.done = True
        else:
            cut = cut[: len(cut) - self._held_back(cut)]
        if cut.endswith("\ufffd"):  # a character still incomplete
            return
        self._send(cut)

    def _held_back(self, text: str) -> int:
        """How many trailing characters might be the start of a stop string."""
        return max(
            (n for stop in self.stops for n in range(1, len(stop)) if text.endswith(stop[:n])), default=0
        )

    def _send(self, text: str) -> None:
        if text.startswith(self.sent) and len(text) > len(self.sent):
            self.on_text(text[len(self.sent) :])
            self.sent = text

    def end(self) -> None:
        pass

    def finish(self, final: str) -> None:
        """Send whatever of the final text was held back."""
        if final.startswith(self.sent):
            self._send(final)


class TransformersLLM:
    backend_name = "transformers"

    def __init__(
        self,
        model_dir: Path,
        *,
        model_name: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        max_batch_tokens: int = 16384,
    ) -> None:
        from transformers import AutoModelForCausalLM

        quiet_hf_libraries()
        self.model_dir = Path(model_dir)
        self.model_name = model_name or str(model_dir)
        self.formatter = load_formatter(self.model_dir)
        self.device = pick_device(device)
        self.dtype = pick_dtype(dtype, self.device)
        try:
            model = AutoModelForCausalLM.from_pretrained(str(self.model_dir), dtype=self.dtype)
        except Exception as exc:
            raise ModelLoadError(f"cannot load model weights from {self.model_dir}: {exc}") from exc
        self.model: Any = model.to(self.device).eval()
        self.max_batch_tokens = max_batch_tokens
        self.reuse_prefix_cache = True
        self._adapter_names: dict[str, str] = {}
        self._adapter_numbers = itertools.count()
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str | None = None) -> TransformersLLM:
        name = model or settings.model
        return cls(
            resolve_model_dir(name, settings), model_name=name, device=settings.device, dtype=settings.dtype
        )

    # ------------------------------------------------------------------ adapters

    def ensure_adapter(self, adapter: str | Path) -> str:
        """Load a PEFT adapter folder once; returns its internal name."""
        path = Path(adapter).expanduser().resolve()
        key = str(path)
        if key in self._adapter_names:
            return self._adapter_names[key]
        if not path.is_dir():
            raise ModelLoadError(
                f"adapter folder {adapter} does not exist", "check the adapter/checkpoint path"
            )
        if not (path / "adapter_config.json").is_file():
            raise ModelLoadError(
                f"{adapter} holds no adapter_config.json",
                "point at a PEFT LoRA folder (save_pretrained output)",
            )
        from peft import PeftModel

        from jedi_academy.llm.adapters import verify_exported_adapter

        verify_exported_adapter(path)
        name = f"adapter{next(self._adapter_numbers)}"
        with self._lock:
            try:
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(key, adapter_name=name, is_trainable=False)
                else:
                    self.model = PeftModel.from_pretrained(
                        self.model, key, adapter_name=name, is_trainable=False
                    )
            except Exception as exc:
                raise ModelLoadError(f"cannot load adapter {adapter} onto {self.model_name}: {exc}") from exc
            self.model.eval()
            self._adapter_names[key] = name
        return name

    def release_adapter(self, adapter: str | Path) -> bool:
        """Drop a loaded adapter's weights (a server unloading it at runtime); False if it was not loaded."""
        key = str(Path(adapter).expanduser().resolve())
        with self._lock:
            name = self._adapter_names.pop(key, None)
            if name is None:
                return False
            if self._adapter_names:
                if name in self.model.active_adapters:
                    self.model.set_adapter(next(iter(self._adapter_names.values())))
                self.model.delete_adapter(name)
            else:
                self.model = self.model.unload()  # the last adapter: back to the plain base model
            return True

    @contextmanager
    def using_adapter(self, adapter: str | None) -> Iterator[None]:
        from peft import PeftModel

        with self._lock:
            if adapter is None:
                context = self.model.disable_adapter() if isinstance(self.model, PeftModel) else nullcontext()
                with context:
                    yield
            else:
                name = self.ensure_adapter(adapter)  # may wrap self.model in a PeftModel
                self.model.set_adapter(name)
                yield

    # ------------------------------------------------------------------ generation

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, adapter: str | None = None
    ) -> list[str]:
        prompts = [self.formatter.encode_prompt(c) for c in conversations]
        return [g.text for g in self.generate_ids(prompts, params, adapter)]

    def generate_ids(
        self,
        prompts: Sequence[list[int]],
        params: GenerationParams,
        adapter: str | None = None,
        hooks: GenerationHooks | None = None,
    ) -> list[Generated]:
        """Continue each token-id prompt; stop strings are already cut from the returned tokens."""
        results: list[Generated] = []
        longest = max((len(p) for p in prompts), default=1)
        batch_size = max(1, self.max_batch_tokens // (longest + params.max_tokens))
        with self.using_adapter(adapter), torch.inference_mode():
            for number, start in enumerate(range(0, len(prompts), batch_size)):
                seed = None if params.seed is None else params.seed + number
                batch = list(prompts[start : start + batch_size])
                results.extend(self._generate_batch(batch, params, seed, hooks or GenerationHooks()))
        return results

    def stream_generate(
        self,
        conversation: Conversation,
        params: GenerationParams,
        on_text: Callable[[str], None],
        adapter: str | None = None,
    ) -> str:
        """One reply, handing each new piece of text to ``on_text`` as it is sampled. The pieces add up to the
        returned text, which is exactly what ``generate([conversation], params, adapter)[0]`` returns."""
        prompt = self.formatter.encode_prompt(conversation)
        streamer = _TextStreamer(self.formatter, on_text, params.stop)
        with self.using_adapter(adapter), torch.inference_mode():
            hooks = GenerationHooks(streamer=streamer)
            result = self._generate_batch([prompt], params, params.seed, hooks)[0]
        streamer.finish(result.text)
        return result.text

    def _generate_batch(
        self, prompts: list[list[int]], params: GenerationParams, seed: int | None, hooks: GenerationHooks
    ) -> list[Generated]:
        from transformers import LogitsProcessorList, StoppingCriteriaList

        width = max(len(p) for p in prompts)
        pad = self.formatter.pad_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.device)
        options: dict[str, Any] = {
            "max_new_tokens": params.max_tokens,
            "pad_token_id": pad,
            "eos_token_id": self.formatter.eos_id,
        }
        if params.temperature > 0:
            options.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        stopping = list(hooks.stopping_criteria)
        if params.stop:
            stopping.append(_StopOnStrings(self.formatter, params.stop, width))
        if stopping:
            options["stopping_criteria"] = StoppingCriteriaList(stopping)
        processors = list(hooks.logits_processors)
        if params.json_schema is not None:
            from jedi_academy.llm.constrained import JsonSchemaLogitsProcessor

            processors.append(
                JsonSchemaLogitsProcessor(self.formatter, params.json_schema, len(prompts), width)
            )
        if processors:
            options["logits_processor"] = LogitsProcessorList(processors)
        if hooks.streamer is not None:
            options["streamer"] = hooks.streamer
        if seed is not None:
            torch.manual_seed(seed)
        output = self.model.generate(input_ids=input_ids, attention_mask=attention, **options)
        return [self._finish(row, params) for row in output[:, width:].tolist()]

    def _finish(self, row: list[int], params: GenerationParams) -> Generated:
        """Cut a generated row at EOS or at the first stop string."""
        if self.formatter.eos_id in row:
            row = row[: row.index(self.formatter.eos_id)]
            return Generated(row, truncate_at_stop(self.formatter.decode(row), params.stop), "stop")
        text = self.formatter.decode(row)
        cut = truncate_at_stop(text, params.stop)
        if cut == text:
            return Generated(row, text, "length")
        # the tokens up to (not including) the one that completed the stop string
        end = next(
            i
            for i in range(1, len(row) + 1)
            if self.formatter.decode(row[:i]) != truncate_at_stop(self.formatter.decode(row[:i]), params.stop)
        )
        return Generated(row[: end - 1], cut, "stop")

    # ------------------------------------------------------------------ scoring

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> list[LoglikelihoodResult]:
        encoded: list[tuple[list[int], list[int]]] = []
        for number, request in enumerate(requests):
            validate_conversation(request.context, where=f"request {number}")
            prompt = self.formatter.encode_prompt(request.context)
            full = self.formatter.encode_with_reply(
                request.context, request.continuation, close=request.complete
            )
            encoded.append((prompt, full[len(prompt) :]))

        groups: dict[tuple[str | None, tuple[int, ...]], list[int]] = defaultdict(list)
        for index, (request, (prompt, _)) in enumerate(zip(requests, encoded, strict=True)):
            groups[(request.adapter, tuple(prompt))].append(index)

        results: list[LoglikelihoodResult | None] = [None] * len(requests)
        by_adapter: dict[str | None, list[list[int]]] = defaultdict(list)
        for (adapter, _), indices in groups.items():
            by_adapter[adapter].append(indices)
        for adapter, index_groups in by_adapter.items():
            with self.using_adapter(adapter), torch.inference_mode():
                singles: list[int] = []
                for indices in index_groups:
                    if len(indices) > 1 and self.reuse_prefix_cache:
                        prompt = encoded[indices[0]][0]
                        scored = self._score_shared_prompt(prompt, [encoded[i][1] for i in indices])
                        for index, result in zip(indices, scored, strict=True):
                            results[index] = result
                    else:
                        singles.extend(indices)
                sequences = [encoded[i][0] + encoded[i][1] for i in singles]
                starts = [len(encoded[i][0]) for i in singles]
                for index, result in zip(singles, self._score_sequences(sequences, starts), strict=True):
                    results[index] = result
        return [r for r in results if r is not None]

    @staticmethod
    def _summarise(logprobs: torch.Tensor, targets: torch.Tensor) -> LoglikelihoodResult:
        """``logprobs``: [n, vocab] predictions for the ``targets`` [n]."""
        chosen = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        greedy = bool((logprobs.argmax(-1) == targets).all())
        return LoglikelihoodResult(float(chosen.double().sum()), int(targets.numel()), greedy)

    def _batches(self, lengths: list[int]) -> Iterator[list[int]]:
        """Indices grouped so that each padded batch stays under ``max_batch_tokens``, longest first."""
        order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
        batch: list[int] = []
        for index in order:
            if batch and (len(batch) + 1) * lengths[batch[0]] > self.max_batch_tokens:
                yield batch
                batch = []
            batch.append(index)
        if batch:
            yield batch

    def _forward_right_padded(self, sequences: list[list[int]]) -> torch.Tensor:
        width = max(len(s) for s in sequences)
        pad = self.formatter.pad_id
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in sequences], device=self.device)
        mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences], device=self.device)
        logits = self.model(input_ids=ids, attention_mask=mask).logits
        return torch.log_softmax(logits.float(), dim=-1)

    def _score_sequences(self, sequences: list[list[int]], starts: list[int]) -> list[LoglikelihoodResult]:
        """Left-padded batches (explicit position ids), so that every continuation ends the row and only the
        last positions' logits are computed: the full [batch, length, vocabulary] tensor never exists."""
        results: list[LoglikelihoodResult | None] = [None] * len(sequences)
        pad = self.formatter.pad_id
        for batch in self._batches([len(s) for s in sequences]):
            rows = [sequences[i] for i in batch]
            width = max(len(r) for r in rows)
            keep = max(len(sequences[i]) - starts[i] for i in batch) + 1
            ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=self.device)
            mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=self.device)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
            ).logits
            logprobs = torch.log_softmax(
                logits.float(), dim=-1
            )  # [batch, keep, vocab]: predictions for the tail
            for row, index in enumerate(batch):
                sequence, start = sequences[index], starts[index]
                length = len(sequence) - start
                targets = torch.tensor(sequence[start:], device=self.device)
                results[index] = self._summarise(logprobs[row, keep - 1 - length : keep - 1], targets)
        return [r for r in results if r is not None]

    def _score_shared_prompt(
        self, prompt: list[int], continuations: list[list[int]]
    ) -> list[LoglikelihoodResult]:
        """Run the prompt once, then every continuation on a copy of its KV cache."""
        prompt_out = self.model(input_ids=torch.tensor([prompt], device=self.device), use_cache=True)
        cache = prompt_out.cache
        first = torch.log_softmax(prompt_out.logits[0, -1].float(), dim=-1)
        results: list[LoglikelihoodResult | None] = [None] * len(continuations)
        longest = max(len(c) for c in continuations)
        per_batch = max(1, self.max_batch_tokens // (len(prompt) + longest))
        for start in range(0, len(continuations), per_batch):
            chunk = list(range(start, min(start + per_batch, len(continuations))))
            width = max(len(continuations[i]) for i in chunk)
            pad = self.formatter.pad_id
            ids = torch.tensor(
                [continuations[i] + [pad] * (width - len(continuations[i])) for i in chunk],
                device=self.device,
            )
            mask = torch.tensor(
                [
                    [1] * (len(prompt) + len(continuations[i])) + [0] * (width - len(continuations[i]))
                    for i in chunk
                ],
                device=self.device,
            )
            batch_cache = copy.deepcopy(cache)
            batch_cache.batch_repeat_interleave(len(chunk))
            logits = self.model(input_ids=ids, attention_mask=mask, cache=batch_cache).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for row, index in enumerate(chunk):
                tokens = continuations[index]
                predictions = torch.cat([first.unsqueeze(0), logprobs[row, : len(tokens) - 1]], dim=0)
                results[index] = self._summarise(predictions, torch.tensor(tokens, device=self.device))
        return [r for r in results if r is not None]

    def token_scores(
        self, sequence: list[int], start: int, top_k: int = 0, adapter: str | None = None
    ) -> list[TokenScore]:
        """Per-token log-probs of ``sequence[start:]`` (``start`` >= 1), with the top-k alternatives."""
        with self.using_adapter(adapter), torch.inference_mode():
            logprobs = self._forward_right_padded([sequence])[0]
        scores = []
        for position in range(max(1, start), len(sequence)):
            row = logprobs[position - 1]
            token = sequence[position]
            top: list[tuple[int, float]] = []
            if top_k > 0:
                values, indices = row.topk(top_k)
                top = list(zip(indices.tolist(), values.tolist(), strict=True))
            logprob = row[token]
            rank = int((row > logprob).sum()) + 1
            scores.append(TokenScore(token, float(logprob), rank, top))
        return scores

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend_name,
            "model": self.model_name,
            "path": str(self.model_dir),
            "architecture": type(self.model).__name__,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            "chat_format": self.formatter.kind,
            "vocab_size": self.formatter.vocab_size,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "adapters": sorted(self._adapter_names),
        }
