"""Conversations as Mistral fine-tuning records, validated and counted with mistral-common's v3 tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from jedi_academy.errors import AcademyError
from jedi_academy.personas import read_card, system_prompt


def conversation_record(card: dict[str, Any], turns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """``{"messages": [system, user, assistant, ...]}``: the persona card as the one system message."""
    messages: list[dict[str, str]] = [{"role": "system", "content": system_prompt(read_card(card))}]
    for question, answer in turns:
        messages.append({"role": "user", "content": question})
        messages.append({"role": "assistant", "content": answer})
    return {"messages": messages}


@lru_cache(maxsize=1)
def _formatter() -> Any:
    from jedi_academy.llm.chat_format import MistralCommonFormatter
    from jedi_academy.llm.tiny import v3_tokenizer_file

    return MistralCommonFormatter(v3_tokenizer_file())


def check_record(record: dict[str, Any], where: str) -> int:
    """Validate one record as mistral-common's fine-tuning validator does; returns its token count."""
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise AcademyError(f"{where}: no messages")
    if sum(1 for m in messages if m.get("role") == "system") > 1:
        raise AcademyError(f"{where}: more than one system message")
    if messages[0].get("role") not in ("system", "user"):
        raise AcademyError(f"{where}: must start with a system or user message")
    if messages[-1].get("role") != "assistant":
        raise AcademyError(f"{where}: must end with an assistant message")
    for index, message in enumerate(messages):
        if not str(message.get("content", "")).strip():
            raise AcademyError(f"{where}, message {index}: empty content")
    try:
        ids, _mask = _formatter().encode_for_training(messages)
    except AcademyError as exc:
        raise AcademyError(f"{where}: {exc.message}") from exc
    return len(ids)


def card_visible_views(messages: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """One training view per trained assistant turn, so that the persona card precedes every trained token.

    Mistral's v3 format puts the system prompt into the *last* user turn, so in a whole N-turn conversation
    only the final reply can see the card, while at inference the card always precedes the reply. View *k* is
    the conversation up to assistant turn *k*, with every earlier assistant turn at ``"weight": 0``: training
    then sees exactly the prompt layout that serving sees, for every turn. Turns already marked
    ``"weight": 0`` get no view. The views are valid Mistral fine-tuning records (usable by the Mistral API
    as well)."""
    views: list[list[dict[str, Any]]] = []
    for index, message in enumerate(messages):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        view = [
            {**earlier, "weight": 0} if earlier.get("role") == "assistant" else dict(earlier)
            for earlier in messages[:index]
        ]
        final = dict(message)
        final.pop("weight", None)
        views.append([*view, final])
    return views
