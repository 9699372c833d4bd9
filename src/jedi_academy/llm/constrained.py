"""Constrained decoding against a JSON schema for the transformers backend (xgrammar token masks).

Each step, a grammar matcher per row masks every token that would break the schema, so even the tiny random
model produces schema-valid JSON. Control tokens are never allowed inside the JSON; EOS is allowed only once
the JSON is complete.
"""

from __future__ import annotations

import json
import re
from typing import Any

import torch

from jedi_academy.llm.chat_format import ChatFormatter, HFTemplateFormatter, MistralCommonFormatter

_TOKENIZER_INFO: dict[int, Any] = {}
_COMPILERS: dict[int, Any] = {}
_GRAMMARS: dict[tuple[int, str], Any] = {}


def _tokenizer_info(formatter: ChatFormatter) -> Any:
    import xgrammar as xgr

    key = id(formatter)
    if key not in _TOKENIZER_INFO:
        if isinstance(formatter, MistralCommonFormatter):
            raw = formatter._raw
            vocab = ["" if raw.is_special(i) else raw.id_to_piece(i) for i in range(raw.n_words)]
            _TOKENIZER_INFO[key] = xgr.TokenizerInfo(
                vocab,
                vocab_type=xgr.VocabType.BYTE_FALLBACK,
                vocab_size=raw.n_words,
                stop_token_ids=[raw.eos_id],
                add_prefix_space=True,
            )
        elif isinstance(formatter, HFTemplateFormatter):
            _TOKENIZER_INFO[key] = xgr.TokenizerInfo.from_huggingface(formatter._tok)
        else:
            raise TypeError(f"no constrained decoding for {type(formatter).__name__}")
    return _TOKENIZER_INFO[key]


def compiled_schema(formatter: ChatFormatter, schema: dict[str, Any]) -> Any:
    import xgrammar as xgr

    # The grammar follows the schema's own property order (the order a model should write them in).
    text = json.dumps(schema)
    key = (id(formatter), text)
    if key not in _GRAMMARS:
        if id(formatter) not in _COMPILERS:
            _COMPILERS[id(formatter)] = xgr.GrammarCompiler(_tokenizer_info(formatter))
        _GRAMMARS[key] = _COMPILERS[id(formatter)].compile_json_schema(text, any_whitespace=False)
    return _GRAMMARS[key]


_XGRAMMAR_PREFIX = re.compile(r"^\[[^\]]*\]\s*\S+:\d+:\s*")


class UnusableSchema(ValueError):
    """A JSON schema that constrained decoding cannot follow (xgrammar refused to compile it)."""


def require_usable_schema(formatter: ChatFormatter, schema: dict[str, Any]) -> None:
    """Compile ``schema`` now (the result is cached for generation), so a schema that cannot be followed is
    the caller's error before any generation starts, not a failure inside it."""
    try:
        compiled_schema(formatter, schema)
    except RuntimeError as exc:  # xgrammar reports every schema problem as a RuntimeError
        reason = _XGRAMMAR_PREFIX.sub("", str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        raise UnusableSchema(reason or "the schema cannot be compiled") from exc


class JsonSchemaLogitsProcessor:
    """A transformers logits processor that keeps every row of a batch inside the schema."""

    def __init__(
        self, formatter: ChatFormatter, schema: dict[str, Any], batch_size: int, prompt_width: int
    ) -> None:
        import xgrammar as xgr

        grammar = compiled_schema(formatter, schema)
        self.eos_id = formatter.eos_id
        self.matchers = [xgr.GrammarMatcher(grammar) for _ in range(batch_size)]
        self.vocab_size = _tokenizer_info(formatter).vocab_size
        self.bitmask = xgr.allocate_token_bitmask(batch_size, self.vocab_size)
        self.prompt_width = prompt_width
        self._apply = xgr.apply_token_bitmask_inplace

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids.shape[1] - self.prompt_width
        for row, matcher in enumerate(self.matchers):
            if generated > 0 and not matcher.is_terminated():
                matcher.accept_token(int(input_ids[row, -1]))
            if matcher.is_terminated():
                self.bitmask[row].fill_(0)
                self.bitmask[row, self.eos_id // 32] = 1 << (self.eos_id % 32)
            else:
                matcher.fill_next_token_bitmask(self.bitmask, row)
        masked = scores[:, : self.vocab_size].contiguous()
        self._apply(masked, self.bitmask.to(masked.device))
        scores[:, : self.vocab_size] = masked
        if scores.shape[1] > self.vocab_size:
            scores[:, self.vocab_size :] = float("-inf")
        return scores
