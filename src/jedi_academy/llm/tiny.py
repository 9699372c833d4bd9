"""The tiny Mistral-architecture model used by tests and the offline demo.

Random weights from a fixed seed, the real Mistral v3 tokenizer from ``mistral-common``'s package data,
saved in Hugging Face format, and loaded through the same code path as any real model folder. Its text is
gibberish; its mechanics (formatting, log-probs, LoRA, checkpoints) are real.

Like the real ``Mistral-7B-Instruct-v0.3`` folder it holds the tokenizer twice: ``tokenizer.model.v3`` (and
``tokenizer.model``) for mistral-common, and ``tokenizer.json`` / ``tokenizer_config.json`` (with a chat
template) for ``transformers.AutoTokenizer``, vLLM and xgrammar. Both give the same ids.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jedi_academy.config import Settings

TINY_NAME = "tiny"
TINY_SEED = 1234
TINY_MARKER = "academy-tiny.json"
V3_TOKENIZER = "mistral_instruct_tokenizer_240323.model.v3"

HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")

# Mistral v3 layout: the system prompt joins the *last* user turn. No spaces around [INST]/[/INST] in the
# text: the tokenizer prefixes every text segment with "▁" itself, as mistral-common encodes each message.
V3_CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}"
    "{%- else -%}{%- set system = none -%}{%- set turns = messages -%}{%- endif -%}"
    "{%- set ns = namespace(last_user=-1) -%}"
    "{%- for m in turns -%}{%- if m['role'] == 'user' -%}{%- set ns.last_user = loop.index0 -%}{%- endif -%}"
    "{%- endfor -%}"
    "{{- bos_token -}}"
    "{%- for m in turns -%}"
    "{%- if m['role'] == 'user' -%}"
    "{%- if system and loop.index0 == ns.last_user -%}"
    "{{- '[INST]' + system + '\n\n' + m['content'] + '[/INST]' -}}"
    "{%- else -%}{{- '[INST]' + m['content'] + '[/INST]' -}}{%- endif -%}"
    "{%- elif m['role'] == 'assistant' -%}{{- m['content'] + eos_token -}}"
    "{%- else -%}{{- raise_exception('only system, user and assistant messages are supported') -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

TINY_CONFIG = {
    "vocab_size": 32768,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 4096,
    "rope_theta": 1e6,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
    # Wider than transformers' default 0.02: with 0.02 the random logits span only about +-1.3, so no LoRA
    # adapter (lm_head and norms stay frozen) could make an answer clearly more likely, and the score shifts
    # that fine-tuning tests must show would be invisible.
    "initializer_range": 0.1,
}


def tiny_model_dir(settings: Settings) -> Path:
    return settings.path("models", TINY_NAME)


def is_tiny_model(name: str) -> bool:
    """``tiny`` itself, or a folder built by :func:`build_tiny_model`."""
    return name == TINY_NAME or (Path(name) / TINY_MARKER).is_file()


def v3_tokenizer_file() -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / V3_TOKENIZER


def build_tiny_model(target: Path, *, force: bool = False) -> Path:
    """Write the tiny model to ``target`` (atomically: a half-written folder never appears there)."""
    target = Path(target)
    complete = all((target / name).is_file() for name in (TINY_MARKER, *HF_TOKENIZER_FILES))
    if complete and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # An unwritable target fails here, before the seconds spent importing torch and building the weights.
    staging = Path(tempfile.mkdtemp(prefix=".tiny-", dir=target.parent))
    try:
        import torch
        from transformers import MistralConfig, MistralForCausalLM

        from jedi_academy.llm.loading import quiet_hf_libraries

        quiet_hf_libraries()
        torch.manual_seed(TINY_SEED)
        model = MistralForCausalLM(MistralConfig(**TINY_CONFIG))
        model.generation_config.pad_token_id = 0
        model.save_pretrained(staging)
        shutil.copyfile(v3_tokenizer_file(), staging / "tokenizer.model.v3")
        write_hf_tokenizer(v3_tokenizer_file(), staging)
        (staging / TINY_MARKER).write_text(
            json.dumps({"seed": TINY_SEED, "config": TINY_CONFIG, "tokenizer": V3_TOKENIZER}, indent=2)
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def write_hf_tokenizer(tokenizer_file: Path, folder: Path) -> None:
    """Write the Hugging Face tokenizer files for a SentencePiece (v3) Mistral tokenizer into ``folder``.

    The BPE merges are ranked by the score SentencePiece itself merges by (not by piece id, as the generic
    converter does), which is what keeps runs of spaces split as mistral-common splits them. Control tokens
    are special tokens, so only text that spells one (``[INST]``, ``</s>``) tokenizes differently."""
    from sentencepiece import sentencepiece_model_pb2
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated, without stubs
    proto.ParseFromString(Path(tokenizer_file).read_bytes())
    normal, unknown, control, user_defined, byte = 1, 2, 3, 4, 6
    pieces = [(p.piece, p.score, p.type) for p in proto.pieces]
    vocab = {piece: index for index, (piece, _, _) in enumerate(pieces)}
    ranked = []
    for index, (piece, score, kind) in enumerate(pieces):
        if kind != normal:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if pieces[vocab.get(left, 0)][2] in (normal, byte) and pieces[vocab.get(right, 0)][2] == normal:
                ranked.append((-score, index, cut, left, right))
    ranked.sort()
    model = models.BPE(
        vocab=vocab,
        merges=[(left, right) for *_, left, right in ranked],
        unk_token="<unk>",
        byte_fallback=True,
        fuse_unk=True,
    )
    tokenizer = Tokenizer(model)
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    specials = [p for p, _, kind in pieces if kind in (unknown, control, user_defined)]
    tokenizer.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    special_map = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (folder / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        **special_map,
        "add_bos_token": True,
        "add_eos_token": False,
        "model_max_length": TINY_CONFIG["max_position_embeddings"],
        "clean_up_tokenization_spaces": False,
        "chat_template": V3_CHAT_TEMPLATE,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(tokenizer_file, folder / "tokenizer.model")
