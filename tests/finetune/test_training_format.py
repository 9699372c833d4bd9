from mistral_common.protocol.instruct.validator import ValidationMode

from jedi_academy.llm.chat_format import load_formatter
from tests.finetune.conftest import conversation
from tests.llm.test_chat_format import reference_ids


def test_training_ids_match_mistral_common_and_mask_only_assistant_turns(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    messages = conversation(1)["messages"]
    ids, mask = formatter.encode_for_training(messages)
    assert ids == reference_ids(messages, ValidationMode.finetuning)
    trained = [token for token, keep in zip(ids, mask, strict=True) if keep]
    assistant = [m["content"] for m in messages if m["role"] == "assistant"]
    assert formatter.decode(trained) == " ".join(assistant)
    assert trained.count(formatter.eos_id) == 2  # each assistant turn learns to stop
    raw = formatter._raw
    expected = sum(len(raw.encode(text, bos=False, eos=False)) + 1 for text in assistant)
    assert sum(mask) == expected


def test_weight_zero_turns_carry_no_loss(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    messages = conversation(2)["messages"]
    messages[2] = {**messages[2], "weight": 0}
    ids, mask = formatter.encode_for_training(messages)
    trained = [token for token, keep in zip(ids, mask, strict=True) if keep]
    assert formatter.decode(trained) == messages[4]["content"]
