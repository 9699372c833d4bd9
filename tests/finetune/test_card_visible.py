"""Card-visible training: every trained assistant token can attend to the persona card, as at inference."""

from mistral_common.protocol.instruct.validator import ValidationMode

from jedi_academy.datasets.mistral_format import card_visible_views
from jedi_academy.finetune.data import IGNORE, card_end, encode_examples, encode_view
from jedi_academy.llm.chat_format import load_formatter
from tests.finetune.conftest import conversation
from tests.llm.test_chat_format import reference_ids

CARD = "You are Sam, 34, in therapy for low mood. You sleep badly and avoid friends."


def long_conversation(turns: int) -> list[dict]:
    messages = [{"role": "system", "content": CARD}]
    for turn in range(turns):
        messages.append({"role": "user", "content": f"Question {turn}: how did the week {turn} go for you?"})
        messages.append({"role": "assistant", "content": f"Week {turn} was heavy. " * (3 + turn)})
    return messages


def trained_text(formatter, example) -> str:  # type: ignore[no-untyped-def]
    return formatter.decode([label for label in example.labels if label != IGNORE])


def whole_conversation_share(formatter, conversations) -> float:  # type: ignore[no-untyped-def]
    """What training on whole conversations gave: the share of trained tokens placed after the card."""
    visible = trained = 0
    for messages in conversations:
        ids, mask = formatter.encode_for_training(messages)
        end = card_end(formatter, messages, ids)
        trained += sum(mask)
        visible += sum(1 for i, keep in enumerate(mask) if keep and i >= end)
    return visible / trained


def test_views_put_earlier_turns_at_weight_zero() -> None:
    messages = long_conversation(3)
    messages[4] = {**messages[4], "weight": 0}  # a turn the dataset itself does not train
    views = card_visible_views(messages)
    assert len(views) == 2  # turns 1 and 3; turn 2 was weight 0
    assert [len(v) for v in views] == [3, 7]
    assert views[1][0] == {"role": "system", "content": CARD}
    assert [m.get("weight") for m in views[1] if m["role"] == "assistant"] == [0, 0, None]
    assert views[1][-1]["content"] == messages[-1]["content"]
    assert "weight" not in messages[2]  # the input is not modified


def test_every_trained_token_sees_the_card_and_ids_stay_mistral_commons(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    conversations = [long_conversation(4), conversation(1)["messages"], conversation(2)["messages"]]
    encoded = encode_examples(conversations, formatter, 4096)
    assert len(encoded.examples) == 4 + 2 + 2 and encoded.truncated == 0 and encoded.dropped == 0
    assert encoded.card_visible_share == 1.0
    assert whole_conversation_share(formatter, conversations) < 0.6  # the v3 layout trains most turns blind

    views = [view for messages in conversations for view in card_visible_views(messages)]
    for view, example in zip(views, encoded.examples, strict=True):
        plain = [{"role": m["role"], "content": m["content"]} for m in view]
        assert example.input_ids == reference_ids(plain, ValidationMode.finetuning)
        assert trained_text(formatter, example) == view[-1]["content"].strip()
        assert example.labels[-1] == formatter.eos_id
        text = formatter.decode(example.input_ids)
        assert text.index(CARD if view[0]["content"] == CARD else view[0]["content"]) < text.index(
            view[-1]["content"].strip()
        )


def test_without_a_card_nothing_is_counted_as_card_visible(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    encoded = encode_examples([long_conversation(2)[1:]], formatter, 4096)
    assert len(encoded.examples) == 2 and encoded.card_visible_share is None


def test_tail_truncation_drops_old_turns_first_and_keeps_card_and_end(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    messages = long_conversation(6)
    last_view = card_visible_views(messages)[-1]
    full_length = len(formatter.encode_for_training(last_view)[0])
    example, cut = encode_view(formatter, last_view, full_length - 10)
    assert cut and example is not None and len(example.input_ids) <= full_length - 10
    text = formatter.decode(example.input_ids)
    assert CARD in text and "Question 0" not in text and "Question 5" in text  # oldest exchange went first
    assert example.input_ids[-1] == formatter.eos_id and example.card_visible_tokens == example.trained_tokens

    # the card and the trained exchange alone are too long: the middle goes, card and end marker stay
    single = [messages[0], messages[-2], messages[-1]]
    length = len(formatter.encode_for_training(single)[0])
    example, cut = encode_view(formatter, single, length - 12)
    assert cut and example is not None and len(example.input_ids) == length - 12
    assert CARD in formatter.decode(example.input_ids)
    assert example.input_ids[-1] == formatter.eos_id and example.labels[-1] == formatter.eos_id
    assert example.card_visible_tokens == example.trained_tokens > 0

    # not even the card fits: the turn is dropped and counted, never trained without its card
    encoded = encode_examples([single], formatter, 24)
    assert encoded.examples == [] and encoded.dropped == 1
