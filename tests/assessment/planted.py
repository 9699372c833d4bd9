"""Tiny models whose answers are planted by setting weights directly (no training): every layer's output
projections are zeroed, so the last hidden state is the current token's own embedding, and the output head is
rebuilt so that chosen tokens predict chosen next tokens. Fast and exact enough to build a respondent that
always gives the first-listed label, or one that never answers with a label at all."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import torch

from jedi_academy.llm.transformers_backend import TransformersLLM

STRENGTH = 40.0


def planted_llm(model_dir: Path, transitions: dict[int, int | dict[int, float]]) -> TransformersLLM:
    """A fresh copy of the model at ``model_dir`` in which token ``a`` is followed by token ``b`` for every
    ``a -> b`` in ``transitions`` (with probability close to 1), or by each token of a ``{b: p}`` mixture
    with probability close to ``p``."""
    llm = TransformersLLM(model_dir, model_name="planted", device="cpu", dtype="float32")
    model = llm.model
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = model.lm_head.weight
        head.zero_()
        for source, target in transitions.items():
            hidden = model.model.norm(model.model.embed_tokens.weight[source])
            mixture = target if isinstance(target, dict) else {target: 1.0}
            for token, p in mixture.items():  # logits STRENGTH + ln p: a softmax over them gives p
                head[token] += (STRENGTH + math.log(p)) * hidden / hidden.norm() ** 2
    return llm


def reply_tokens(llm: TransformersLLM, reply: str) -> list[int]:
    """The tokens of ``reply`` as a whole assistant turn, starting with the last prompt token ([/INST])."""
    messages = [{"role": "user", "content": "Question?"}]
    prompt = llm.formatter.encode_prompt(messages)
    return [prompt[-1], *llm.formatter.encode_with_reply(messages, reply, close=True)[len(prompt) :]]


def first_label_llm(model_dir: Path) -> TransformersLLM:
    """Content-blind: replies "1" to anything, so it picks whatever option is listed first."""
    probe = TransformersLLM(model_dir, model_name="probe", device="cpu", dtype="float32")
    chain = reply_tokens(probe, "1")
    return planted_llm(model_dir, dict(itertools.pairwise(chain)))


def off_label_llm(model_dir: Path) -> TransformersLLM:
    """Replies "Hello" to anything: its probability is not on the option labels."""
    probe = TransformersLLM(model_dir, model_name="probe", device="cpu", dtype="float32")
    chain = reply_tokens(probe, "Hello")
    return planted_llm(model_dir, dict(itertools.pairwise(chain)))


def label_mixture_llm(model_dir: Path, weights: dict[str, float]) -> TransformersLLM:
    """Replies with each label of ``weights`` (e.g. ``{"1": 0.6, "2": 0.4/3, ...}``) with that probability and
    then ends, whatever the question and the options: a respondent who answers without reading."""
    probe = TransformersLLM(model_dir, model_name="probe", device="cpu", dtype="float32")
    transitions: dict[int, int | dict[int, float]] = {}
    mixture: dict[int, float] = {}
    for label, p in weights.items():
        # a digit is the space marker then the digit: [/INST] -> "▁" -> digit -> </s>; the mixture is at "▁"
        start, space, digit, end = reply_tokens(probe, label)
        transitions[start], transitions[space], transitions[digit] = space, mixture, end
        mixture[digit] = p
    return planted_llm(model_dir, transitions)


def uniform_label_llm(model_dir: Path) -> TransformersLLM:
    return label_mixture_llm(model_dir, {"1": 0.25, "2": 0.25, "3": 0.25, "4": 0.25})


def mostly_first_label_llm(model_dir: Path) -> TransformersLLM:
    """Says "1" 60% of the time and each other label 13%: position-driven, yet under 0.5 order sensitivity."""
    return label_mixture_llm(model_dir, {"1": 0.6, "2": 0.4 / 3, "3": 0.4 / 3, "4": 0.4 / 3})


def high_labels_llm(model_dir: Path) -> TransformersLLM:
    """Says "4" 70% and "3" 30% of the time."""
    return label_mixture_llm(model_dir, {"4": 0.7, "3": 0.3})
