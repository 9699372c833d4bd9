"""A token's text as clients see it in log-probs: decoded bytes, not SentencePiece pieces."""

from pathlib import Path

import mistral_common

from jedi_academy.llm.chat_format import MistralCommonFormatter
from jedi_academy.llm.tiny import v3_tokenizer_file


def test_v3_pieces_become_text_and_byte_fallback_single_bytes() -> None:
    formatter = MistralCommonFormatter(v3_tokenizer_file())
    raw = formatter._raw
    hello, world = raw.encode("Hello world", bos=False, eos=False)
    assert (formatter.token_bytes(hello), formatter.token_bytes(world)) == (b" Hello", b" world")
    ids = raw.encode("\U0001f9d8", bos=False, eos=False)  # no piece of its own: four byte-fallback pieces
    assert [formatter.token_bytes(i) for i in ids] == [b" ", b"\xf0", b"\x9f", b"\xa7", b"\x98"]
    assert b"".join(formatter.token_bytes(i) for i in ids).decode() == " \U0001f9d8"
    assert formatter.token_bytes(formatter.eos_id) == b"</s>"


def test_tekken_tokens_are_their_bytes() -> None:
    formatter = MistralCommonFormatter(Path(mistral_common.__file__).parent / "data" / "tekken_240911.json")
    ids = formatter._raw.encode("Hello w\u00f6rld", bos=False, eos=False)
    assert b"".join(formatter.token_bytes(i) for i in ids) == "Hello w\u00f6rld".encode()
