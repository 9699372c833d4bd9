"""Model folder files: the tiny folder loads with AutoTokenizer (mistral-common's ids); Hub downloads take the
Hugging Face weights once."""

from pathlib import Path

import pytest
from mistral_common.protocol.instruct.validator import ValidationMode
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from tests.llm.test_chat_format import CONVERSATIONS, reference_ids

CONTROL_STRINGS = ("<s>", "</s>", "[INST]", "[/INST]", "<unk>")
EDGE_CASES = ["Hello world", "two  with  spaces", " leading space", "trailing  ", "   ", "a \nb",
              "x\n\n\ny", "tabs\tand\nnewlines\n\n", "x1234y 3.14159", "émojis 🙂 and ünïcödé",
              "日本語テキスト", "Ωmega ∑ 𝔘", "I can't enjoy anything anymore.",
              "Nearly every day.\n\nMost days I feel hopeless."]  # fmt: skip


@pytest.fixture(scope="module")
def auto_tokenizer(tiny_dir):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_dir))


def test_the_folder_has_the_files_a_real_mistral_repo_has(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    for name in ("tokenizer.model", "tokenizer.model.v3", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "config.json", "model.safetensors"):  # fmt: skip
        assert (tiny_dir / name).is_file(), name


def test_text_ids_equal_mistral_commons(auto_tokenizer) -> None:  # type: ignore[no-untyped-def]
    raw = MistralTokenizer.v3().instruct_tokenizer.tokenizer
    reference = Path(__file__).parents[2] / "src" / "jedi_academy"
    texts = [*EDGE_CASES]
    for path in sorted(reference.rglob("*.yaml"))[:40]:
        texts.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    texts = [t for t in texts if not any(s in t for s in CONTROL_STRINGS)]
    assert len(texts) > 200
    mismatched = [t for t in texts if auto_tokenizer(t)["input_ids"] != raw.encode(t, bos=True, eos=False)]
    assert mismatched == []
    ids = auto_tokenizer("two  with  spaces")["input_ids"]
    assert auto_tokenizer.decode(ids, skip_special_tokens=True) == "two  with  spaces"


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_chat_template_gives_mistral_commons_ids(auto_tokenizer, messages) -> None:  # type: ignore[no-untyped-def]
    prompt = auto_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
    assert list(prompt) == reference_ids(messages)
    finished = [*messages, {"role": "assistant", "content": "Rome, I think."}]
    full = auto_tokenizer.apply_chat_template(finished, tokenize=True, return_dict=False)
    assert list(full) == reference_ids(finished, ValidationMode.finetuning)
