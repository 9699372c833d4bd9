"""The mistral backend against a loopback server that speaks Mistral's chat-completions wire format.

The server checks requests against the documented request schema (unknown fields such as ``seed`` or
``logprobs`` are rejected, as the real API does) and answers with the tiny model."""

import pytest

from jedi_academy.config import load_settings
from jedi_academy.errors import BackendUnavailableError, ConfigError, LogprobsUnavailableError
from jedi_academy.llm import GenerationParams, open_llm
from jedi_academy.llm.mistral_backend import MistralAPILLM
from tests.http_helpers import JSONHandler, LoopbackServer
from tests.llm.test_transformers_backend import REQUESTS, item

CHAT_FIELDS = {
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
    "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n", "safe_prompt",
    "prediction", "parallel_tool_calls", "prompt_mode",
}  # fmt: skip


class MistralServer(LoopbackServer):
    def __init__(self, llm, api_key: str = "test-key", fail_first: int = 0) -> None:  # type: ignore[no-untyped-def]
        self.requests: list[dict] = []
        self.fail_first = fail_first
        outer = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                payload = self.json_body()
                outer.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), **payload}
                )
                if self.headers.get("Authorization") != f"Bearer {api_key}":
                    return self.reply(401, {"message": "Unauthorized", "request_id": "r1"})
                if self.path != "/v1/chat/completions":
                    return self.reply(404, {"detail": "Not Found"})
                if outer.fail_first > 0:
                    outer.fail_first -= 1
                    return self.reply(429, {"message": "Requests rate limit exceeded"})
                unknown = set(payload) - CHAT_FIELDS
                if unknown:
                    detail = [{"type": "extra_forbidden", "loc": ["body", k]} for k in sorted(unknown)]
                    return self.reply(422, {"object": "error", "message": {"detail": detail}})
                params = GenerationParams(temperature=0.0, max_tokens=payload.get("max_tokens") or 16)
                text = llm.generate([payload["messages"]], params)[0]
                used = len(llm.formatter.encode_prompt(payload["messages"]))
                message = {"role": "assistant", "content": text, "tool_calls": None}
                return self.reply(
                    200,
                    {
                        "id": "cmpl-1",
                        "object": "chat.completion",
                        "model": payload["model"],
                        "created": 1,
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": used, "completion_tokens": 1, "total_tokens": used + 1},
                    },
                )

        super().__init__(Handler)


def test_generation_follows_the_mistral_wire_format(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with MistralServer(tiny_llm) as server:
        llm = MistralAPILLM("mistral-small-latest", api_key="test-key", base_url=server.url)
        params = GenerationParams(temperature=0.0, max_tokens=6, seed=11, stop=("\n\n",))
        replies = llm.generate([item("How are you?"), item("Any plans?")], params)
        assert replies == tiny_llm.generate([item("How are you?"), item("Any plans?")], params)
        seen = sorted(server.requests, key=lambda r: r["random_seed"])
        assert [r["random_seed"] for r in seen] == [11, 12]
        assert all(r["auth"] == "Bearer test-key" and r["stream"] is False for r in seen)
        assert all(r["stop"] == ["\n\n"] and r["model"] == "mistral-small-latest" for r in seen)


def test_rate_limits_are_retried(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with MistralServer(tiny_llm, fail_first=2) as server:
        llm = MistralAPILLM("m", api_key="test-key", base_url=server.url)
        llm.client.backoff_s = 0.01
        assert len(llm.generate([item("Hi")], GenerationParams(max_tokens=3))) == 1
        assert len(server.requests) == 3


def test_bad_key_is_a_clear_error(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with MistralServer(tiny_llm) as server:
        llm = MistralAPILLM("m", api_key="wrong", base_url=server.url)
        with pytest.raises(BackendUnavailableError, match="401") as caught:
            llm.generate([item("Hi")], GenerationParams(max_tokens=3))
        assert "API key" in (caught.value.hint or "")


def test_loglikelihood_is_unavailable() -> None:
    llm = MistralAPILLM("m", api_key="k", base_url="http://127.0.0.1:9")
    with pytest.raises(LogprobsUnavailableError, match="no log-probabilities"):
        llm.loglikelihood([REQUESTS[0]])


def test_settings_select_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="API key"):
        open_llm(load_settings(backend="mistral", model="mistral-small-latest"))
    monkeypatch.setenv("MISTRAL_API_KEY", "k")
    llm = open_llm(load_settings(backend="mistral", model="mistral-small-latest"))
    assert isinstance(llm, MistralAPILLM) and llm.base_url == "https://api.mistral.ai"
