"""Chat formatting: conversations to token ids.

Mistral models are formatted by ``mistral-common`` itself, so the ids are exactly the official ones (including
the v3 rule that the system prompt goes into the *last* user turn). Other models use their Hugging Face chat
template; a model with neither gets a clear error.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from jedi_academy.errors import AcademyError, ModelLoadError
from jedi_academy.llm.base import Message, validate_conversation

MISTRAL_TOKENIZER_FILES = ("tokenizer.model.v3", "tekken.json", "tokenizer.model.v7", "tokenizer.model.v2")


class ChatFormatter(Protocol):
    kind: str
    bos_id: int | None
    eos_id: int
    pad_id: int
    vocab_size: int

    def encode_prompt(self, messages: Sequence[Message]) -> list[int]: ...

    def encode_with_reply(self, messages: Sequence[Message], reply: str, *, close: bool) -> list[int]: ...

    def encode_for_training(self, messages: Sequence[Message]) -> tuple[list[int], list[bool]]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def token_text(self, token_id: int) -> str: ...

    def token_bytes(self, token_id: int) -> bytes: ...


def _assistant_weights(messages: Sequence[Message]) -> list[bool]:
    """Which assistant turns are trained: all, except those marked ``"weight": 0`` (Mistral's format)."""
    weights = []
    for message in messages:
        if message["role"] == "assistant":
            weight = message.get("weight", 1)
            if weight not in (0, 1):
                raise AcademyError(f"assistant message weight must be 0 or 1, got {weight!r}")
            weights.append(weight == 1)
    return weights


class _RecentEncodings:
    """The last few prompts encoded, by content: a session's prompt is encoded to count its tokens and then
    again, the same messages, to generate; a long one takes milliseconds each time. Also found by all their
    messages but the last (:meth:`before_last`): the next prompt of a session differs from the one prepared
    for it only in its last message."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[Any, ...], tuple[int, ...]] = OrderedDict()
        self._by_start: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # all messages but the last -> a key
        self._lock = threading.Lock()

    @staticmethod
    def key(messages: Sequence[Message]) -> tuple[Any, ...] | None:
        """None for messages that cannot be a key (not plain text: validation will say what is wrong)."""
        try:
            key = tuple(tuple(sorted(message.items())) for message in messages)
            hash(key)
        except (TypeError, AttributeError):
            return None
        return key

    def encoded(
        self, messages: Sequence[Message], encode: Callable[[tuple[Any, ...] | None], list[int]]
    ) -> list[int]:
        """The kept ids of ``messages``, or ``encode(key)``'s (after validating them), kept from now on."""
        key = self.key(messages)
        ids = self.get(key)
        if ids is None:
            validate_conversation(list(messages))
            ids = encode(key)
            self.put(key, ids)
        return ids

    def get(self, key: tuple[Any, ...] | None) -> list[int] | None:
        if key is None:
            return None
        with self._lock:
            ids = self._kept.get(key)
            if ids is None:
                return None
            self._kept.move_to_end(key)
            return list(ids)

    def before_last(self, key: tuple[Any, ...] | None) -> list[int] | None:
        """The ids of a kept prompt whose messages are ``key``'s but the last; None when none is kept."""
        if not key:
            return None
        with self._lock:
            other = self._by_start.get(key[:-1])
            ids = self._kept.get(other) if other is not None else None
            return None if ids is None else list(ids)

    def put(self, key: tuple[Any, ...] | None, ids: list[int]) -> None:
        if key is None:
            return
        with self._lock:
            self._kept[key] = tuple(ids)
            if key:
                self._by_start[key[:-1]] = key
            while len(self._kept) > self._size:
                gone, _ids = self._kept.popitem(last=False)
                if gone and self._by_start.get(gone[:-1]) == gone:
                    del self._by_start[gone[:-1]]


def _check_prefix(prompt: list[int], full: list[int], what: str) -> None:
    if full[: len(prompt)] != prompt:
        raise AcademyError(
            f"{what}: the chat format does not tokenize the reply as a continuation of the prompt",
            "use a model whose chat template appends the assistant turn after the generation prompt",
        )


class MistralCommonFormatter:
    """Exact Mistral chat encoding through ``mistral-common`` (v3 SentencePiece or Tekken files)."""

    kind = "mistral-common"

    def __init__(self, tokenizer_file: Path) -> None:
        from mistral_common.protocol.instruct.validator import ValidationMode
        from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

        try:
            self._serving = MistralTokenizer.from_file(str(tokenizer_file), mode=ValidationMode.test)
            self._training = MistralTokenizer.from_file(str(tokenizer_file), mode=ValidationMode.finetuning)
        except Exception as exc:  # mistral-common raises several types for a bad file
            raise ModelLoadError(f"cannot read tokenizer file {tokenizer_file}: {exc}") from exc
        self.tokenizer_file = Path(tokenizer_file)
        raw = self._serving.instruct_tokenizer.tokenizer
        self._raw = raw
        self.bos_id: int | None = raw.bos_id
        self.eos_id = raw.eos_id
        # mistral-common has no pad id for SentencePiece models; 0 (<unk>) never appears in real text.
        self.pad_id = raw.pad_id if raw.pad_id is not None and raw.pad_id >= 0 else 0
        self.vocab_size = raw.n_words
        # mistral-common renamed get_control_token to get_special_token; the old name is for older releases
        lookup = getattr(raw, "get_special_token", None) or raw.get_control_token  # type: ignore[attr-defined]
        self._begin_instruction, self._end_instruction = lookup("[INST]"), lookup("[/INST]")
        self._recent = _RecentEncodings()
        self._splices = self._splices_match()

    @staticmethod
    def _to_request(messages: Sequence[Message]) -> Any:
        from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
        from mistral_common.protocol.instruct.request import ChatCompletionRequest

        classes = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
        return ChatCompletionRequest(messages=[classes[m["role"]](content=m["content"]) for m in messages])

    def _encode(self, tokenizer: Any, messages: Sequence[Message]) -> list[int]:
        from mistral_common.exceptions import MistralCommonException

        try:
            return list(tokenizer.encode_chat_completion(self._to_request(messages)).tokens)
        except MistralCommonException as exc:
            raise AcademyError(f"conversation rejected by the Mistral chat format: {exc}") from exc

    def encode_prompt(self, messages: Sequence[Message]) -> list[int]:
        def encode(key: tuple[Any, ...] | None) -> list[int]:
            spliced = self._splice(messages, self._recent.before_last(key)) if self._splices else None
            return spliced if spliced is not None else self._encode(self._serving, messages)

        return self._recent.encoded(messages, encode)

    def _splice(self, messages: Sequence[Message], before: list[int] | None) -> list[int] | None:
        """The prompt's ids from ``before``, the ids of a prompt with the same messages but the last user
        message: its last ``[INST] … [/INST]`` is replaced, that message encoded alone (with the system
        prompt before it, as the v2/v3 formats put it). A long session's next prompt is then encoded in the
        time its new message takes, not the whole session's. None where this does not apply."""
        if before is None or not messages or messages[-1]["role"] != "user":
            return None
        begin, end = self._begin_instruction, self._end_instruction
        if begin not in before or before[-1] != end:
            return None
        start = len(before) - 1 - before[::-1].index(begin)
        content = messages[-1]["content"]
        if messages[0]["role"] == "system" and messages[0]["content"]:
            content = messages[0]["content"] + "\n\n" + content
        return [*before[:start], begin, *self._raw.encode(content, bos=False, eos=False), end]

    def _splices_match(self) -> bool:
        """Whether splicing gives mistral-common's own ids for this tokenizer (checked once, on load: the
        Tekken formats put the system prompt elsewhere, and a future release may change the rule)."""
        base: list[Message] = [
            {"role": "system", "content": "You are a patient."},
            {"role": "user", "content": "How was your week?"},
            {"role": "assistant", "content": "Long."},
        ]
        try:
            for first, second in (("", "What  felt\nhardest? é"), ("Hello", " two words ")):
                before = self._encode(self._serving, [*base, {"role": "user", "content": first}])
                after: list[Message] = [*base, {"role": "user", "content": second}]
                if self._splice(after, before) != self._encode(self._serving, after):
                    return False
        except Exception:  # any doubt: encode every prompt whole
            return False
        return True

    def encode_with_reply(self, messages: Sequence[Message], reply: str, *, close: bool) -> list[int]:
        if not reply:
            raise AcademyError("the reply to score is empty")
        prompt = self.encode_prompt(messages)
        full = self._encode(self._training, [*messages, {"role": "assistant", "content": reply}])
        _check_prefix(prompt, full, "Mistral format")
        if not close and full and full[-1] == self.eos_id:
            full = full[:-1]
        return full

    def encode_for_training(self, messages: Sequence[Message]) -> tuple[list[int], list[bool]]:
        """Token ids of a conversation that ends with the assistant, and which ids carry loss.

        In the Mistral layout every assistant turn is the run of tokens after an ``[/INST]`` up to and
        including its ``</s>``; those runs are trained unless their message has ``"weight": 0``."""
        weights = _assistant_weights(messages)
        if not messages or messages[-1]["role"] != "assistant":
            raise AcademyError("a training conversation must end with an assistant message")
        clean = [{"role": m["role"], "content": m["content"]} for m in messages]
        ids = self._encode(self._training, clean)
        end_of_instruction = self._end_instruction
        mask = [False] * len(ids)
        turn, inside = -1, False
        for index, token in enumerate(ids):
            if token == end_of_instruction:
                turn, inside = turn + 1, True
                continue
            if inside:
                mask[index] = weights[turn]
                if token == self.eos_id:
                    inside = False
        if turn + 1 != len(weights):
            raise AcademyError("could not align assistant turns with the Mistral encoding")
        return ids, mask

    def decode(self, ids: Sequence[int]) -> str:
        return self._raw.decode([int(i) for i in ids if not self._raw.is_special(int(i))])

    def token_text(self, token_id: int) -> str:
        return self._raw.id_to_piece(int(token_id))

    def token_bytes(self, token_id: int) -> bytes:
        """The text a token stands for, as bytes: SentencePiece's word marker is a space and a byte-fallback
        piece such as ``<0xE2>`` is that one byte (part of a UTF-8 character); control tokens keep their
        name."""
        token_id = int(token_id)
        byte_piece = getattr(self._raw, "id_to_byte_piece", None)  # Tekken
        if byte_piece is not None:
            from mistral_common.tokens.tokenizers.base import SpecialTokenPolicy

            return bytes(byte_piece(token_id, SpecialTokenPolicy.KEEP))
        piece = self._raw.id_to_piece(token_id)
        if self._raw.is_special(token_id):
            return piece.encode()
        if len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">"):
            return bytes([int(piece[3:5], 16)])
        return piece.replace("\u2581", " ").encode()


class HFTemplateFormatter:
    """Formatting through a Hugging Face tokenizer's ``chat_template``."""

    kind = "hf-chat-template"

    def __init__(self, model_dir: Path) -> None:
        from transformers import AutoTokenizer

        try:
            self._tok = AutoTokenizer.from_pretrained(str(model_dir))
        except Exception as exc:
            raise ModelLoadError(f"cannot load a tokenizer from {model_dir}: {exc}") from exc
        if not getattr(self._tok, "chat_template", None):
            raise ModelLoadError(
                f"the model at {model_dir} has no chat template",
                "use an instruction-tuned model, or add tokenizer.model.v3 (Mistral) or a chat_template",
            )
        self.bos_id = self._tok.bos_token_id
        self.eos_id = self._tok.eos_token_id
        self.pad_id = self._tok.pad_token_id if self._tok.pad_token_id is not None else self.eos_id
        self.vocab_size = len(self._tok)
        self._recent = _RecentEncodings()

    def _apply(self, messages: Sequence[Message], **kwargs: Any) -> list[int]:
        ids = self._tok.apply_chat_template(list(messages), tokenize=True, return_dict=False, **kwargs)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def encode_prompt(self, messages: Sequence[Message]) -> list[int]:
        return self._recent.encoded(messages, lambda _key: self._apply(messages, add_generation_prompt=True))

    def encode_with_reply(self, messages: Sequence[Message], reply: str, *, close: bool) -> list[int]:
        if not reply:
            raise AcademyError("the reply to score is empty")
        prompt = self.encode_prompt(messages)
        full_messages = [*messages, {"role": "assistant", "content": reply}]
        if close:
            full = self._apply(full_messages)
        else:
            full = self._apply(full_messages, continue_final_message=True)
        _check_prefix(prompt, full, "chat template")
        return full

    def encode_for_training(self, messages: Sequence[Message]) -> tuple[list[int], list[bool]]:
        """Loss on each assistant turn: the tokens that turn adds after the generation prompt before it."""
        weights = _assistant_weights(messages)
        if not messages or messages[-1]["role"] != "assistant":
            raise AcademyError("a training conversation must end with an assistant message")
        clean = [{"role": m["role"], "content": m["content"]} for m in messages]
        ids = self._apply(clean)
        mask = [False] * len(ids)
        turn = 0
        for index, message in enumerate(clean):
            if message["role"] != "assistant":
                continue
            start = len(self._apply(clean[:index], add_generation_prompt=True))
            end = len(self._apply(clean[: index + 1]))
            _check_prefix(self._apply(clean[: index + 1]), ids, "chat template")
            for position in range(start, end):
                mask[position] = weights[turn]
            turn += 1
        return ids, mask

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=True)

    def token_text(self, token_id: int) -> str:
        return self._tok.convert_ids_to_tokens(int(token_id))

    def token_bytes(self, token_id: int) -> bytes:
        return self._tok.convert_tokens_to_string([self.token_text(token_id)]).encode()


def mistral_tokenizer_file(model_dir: Path) -> Path | None:
    for name in MISTRAL_TOKENIZER_FILES:
        if (model_dir / name).is_file():
            return model_dir / name
    return None


def load_formatter(model_dir: Path) -> ChatFormatter:
    tokenizer_file = mistral_tokenizer_file(model_dir)
    if tokenizer_file is not None:
        return MistralCommonFormatter(tokenizer_file)
    return HFTemplateFormatter(model_dir)
