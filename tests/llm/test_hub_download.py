"""The Hub download fetches one copy of the weights: the Hugging Face shards, not the consolidated file."""

from huggingface_hub.utils import filter_repo_objects

from jedi_academy.llm.loading import HUB_PATTERNS

# The files of mistralai/Mistral-7B-Instruct-v0.3 on the Hub.
MISTRAL_7B_INSTRUCT_V03 = [
    ".gitattributes",
    "README.md",
    "config.json",
    "consolidated.safetensors",
    "generation_config.json",
    "model-00001-of-00003.safetensors",
    "model-00002-of-00003.safetensors",
    "model-00003-of-00003.safetensors",
    "model.safetensors.index.json",
    "params.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer.model",
    "tokenizer.model.v3",
    "tokenizer_config.json",
]


def test_hub_patterns_fetch_the_shards_and_tokenizers_but_not_the_consolidated_weights() -> None:
    fetched = set(filter_repo_objects(MISTRAL_7B_INSTRUCT_V03, allow_patterns=list(HUB_PATTERNS)))
    assert "consolidated.safetensors" not in fetched and "params.json" not in fetched
    assert {f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)} <= fetched
    assert {
        "config.json",
        "model.safetensors.index.json",
        "tokenizer.model.v3",
        "tokenizer_config.json",
    } <= fetched


def test_a_single_file_model_is_fetched_too() -> None:
    fetched = set(
        filter_repo_objects(["model.safetensors", "config.json"], allow_patterns=list(HUB_PATTERNS))
    )
    assert fetched == {"model.safetensors", "config.json"}
