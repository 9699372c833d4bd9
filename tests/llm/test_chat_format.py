"""Our Mistral formatting must give exactly mistral-common's token ids."""

import pytest
from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.validator import ValidationMode
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

from jedi_academy.errors import AcademyError, ModelLoadError
from jedi_academy.llm.chat_format import MistralCommonFormatter, load_formatter

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
        {"role": "user", "content": "And of Italy?"},
    ],
    [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "two  spaces\nand a newline, émojis 🙂"},
    ],
    [{"role": "system", "content": "You are a patient."}, {"role": "user", "content": "How have you slept?"}],
]

CLASSES = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}


def reference_ids(messages, mode=ValidationMode.test):  # type: ignore[no-untyped-def]
    tokenizer = MistralTokenizer.v3()
    if mode is ValidationMode.finetuning:
        tokenizer = MistralTokenizer.from_file(
            tokenizer.instruct_tokenizer.tokenizer.file_path, mode=ValidationMode.finetuning
        )
    request = ChatCompletionRequest(messages=[CLASSES[m["role"]](content=m["content"]) for m in messages])
    return tokenizer.encode_chat_completion(request).tokens


@pytest.fixture(scope="module")
def formatter(tiny_dir):  # type: ignore[no-untyped-def]
    loaded = load_formatter(tiny_dir)
    assert isinstance(loaded, MistralCommonFormatter)
    return loaded


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_prompt_ids_equal_mistral_common(formatter, messages) -> None:  # type: ignore[no-untyped-def]
    assert formatter.encode_prompt(messages) == reference_ids(messages)


def test_a_prompt_encoded_again_comes_from_the_recent_encodings_and_callers_cannot_change_them(
    formatter,
) -> None:  # type: ignore[no-untyped-def]
    messages = [{"role": "system", "content": "You are terse."}, *CONVERSATIONS[1]]
    first = formatter.encode_prompt(messages)
    first.append(99)  # a caller's list is its own
    again = formatter.encode_prompt([dict(m) for m in messages])  # equal messages, other objects
    assert again == reference_ids(messages) and again is not first
    key = formatter._recent.key(messages)
    assert formatter._recent.get(key) == again  # kept: the second call did not encode
    changed = [*messages[:-1], {"role": "user", "content": "And of Spain?"}]
    assert formatter.encode_prompt(changed) == reference_ids(changed)
    with pytest.raises(AcademyError, match="role 'patient'"):  # only valid conversations are kept
        formatter.encode_prompt([{"role": "patient", "content": "hi"}])
    assert formatter._recent.get(formatter._recent.key([{"role": "patient", "content": "hi"}])) is None


@pytest.mark.parametrize("system", ["", "You are Robin.", "Two lines\nof system prompt "])
def test_a_prompt_that_differs_in_its_last_message_is_spliced_to_exactly_mistral_commons_ids(
    formatter, system
) -> None:  # type: ignore[no-untyped-def]
    assert formatter._splices  # the v3 tokenizer: checked on load
    start = [{"role": "system", "content": system}] if system else []
    start += [{"role": "user", "content": "How was it?"}, {"role": "assistant", "content": "Grey, mostly."}]
    formatter.encode_prompt([*start, {"role": "user", "content": ""}])  # as a session prepares its next turn
    whole = []
    formatter._encode = lambda tokenizer, messages: (
        whole.append(1) or MistralCommonFormatter._encode(formatter, tokenizer, messages)
    )
    try:
        for text in [
            "What felt hardest?",
            "",
            " lead",
            "trail ",
            "\nnew line",
            "a\n\nb",
            "é 🙂",
            "[INST] x",
            "w " * 300,
        ]:
            messages = [*start, {"role": "user", "content": text}]
            assert formatter.encode_prompt(messages) == reference_ids(messages)
    finally:
        del formatter._encode
    assert whole == []  # every one of them spliced, none encoded whole


def test_documented_example_and_system_prompt_placement(formatter) -> None:  # type: ignore[no-untyped-def]
    ids = formatter.encode_prompt(CONVERSATIONS[1])
    assert len(ids) == 24
    assert ids[:4] == [1, 3, 2592, 1117]
    with_system = formatter.encode_prompt(
        [{"role": "system", "content": "You are terse."}, *CONVERSATIONS[1]]
    )
    assert with_system == reference_ids([{"role": "system", "content": "You are terse."}, *CONVERSATIONS[1]])
    text = formatter.decode(with_system)
    # v3 puts the system prompt into the last user turn, not the first
    assert text.index("You are terse.") > text.index("Paris.")
    assert text.index("You are terse.") < text.index("And of Italy?")


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_reply_ids_equal_finetuning_encoding(formatter, messages) -> None:  # type: ignore[no-untyped-def]
    reply = "Rome, I think."
    closed = formatter.encode_with_reply(messages, reply, close=True)
    assert closed == reference_ids(
        [*messages, {"role": "assistant", "content": reply}], ValidationMode.finetuning
    )
    open_ended = formatter.encode_with_reply(messages, reply, close=False)
    assert open_ended == closed[:-1]
    assert closed[-1] == formatter.eos_id
    assert open_ended[: len(formatter.encode_prompt(messages))] == formatter.encode_prompt(messages)


def test_bad_conversations_are_rejected(formatter) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AcademyError, match="role 'patient'"):
        formatter.encode_prompt([{"role": "patient", "content": "hi"}])
    with pytest.raises(AcademyError, match="system message may only come first"):
        formatter.encode_prompt([{"role": "user", "content": "a"}, {"role": "system", "content": "b"}])
    with pytest.raises(AcademyError, match="empty"):
        formatter.encode_with_reply(CONVERSATIONS[0], "", close=False)


def test_model_without_chat_template_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(WordLevel({"[UNK]": 0, "hello": 1, "</s>": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="</s>").save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="has no chat template"):
        load_formatter(tmp_path)
