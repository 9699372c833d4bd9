"""The openai backend against a real HTTP server on loopback: ``academy serve`` running the tiny model."""

import httpx
import pytest

from jedi_academy.errors import BackendUnavailableError, LogprobsUnavailableError
from jedi_academy.llm import GenerationParams, LoglikelihoodRequest
from jedi_academy.llm.openai_backend import OpenAICompatibleLLM
from jedi_academy.llm.server import create_app
from tests.conftest import ServerThread, closed_port
from tests.http_helpers import JSONHandler, LoopbackServer
from tests.llm.test_transformers_backend import REQUESTS, item, make_adapter


@pytest.fixture(scope="module")
def adapter_dir(tiny_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("adapters") / "patient"
    make_adapter(tiny_dir, path, seed=3)
    return path


@pytest.fixture(scope="module")
def server(tiny_llm, adapter_dir):  # type: ignore[no-untyped-def]
    app = create_app(tiny_llm, "tiny", {"patient": str(adapter_dir)})
    with ServerThread(app) as running:
        yield running


def test_models_lists_base_and_adapters(server) -> None:  # type: ignore[no-untyped-def]
    body = httpx.get(f"{server.url}/v1/models").json()
    assert [m["id"] for m in body["data"]] == ["tiny", "patient"]
    assert body["data"][1]["parent"] == "tiny"


def test_generation_over_http_equals_local_generation(server, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    remote = OpenAICompatibleLLM(server.url, "tiny")
    conversations = [item("How was your week?"), item("And your sleep?")]
    greedy = GenerationParams(temperature=0.0, max_tokens=10)
    assert remote.generate(conversations, greedy) == tiny_llm.generate(conversations, greedy)


def test_loglikelihood_over_http_equals_local_scoring(server, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    remote = OpenAICompatibleLLM(server.url, "tiny")
    for got, expected in zip(remote.loglikelihood(REQUESTS), tiny_llm.loglikelihood(REQUESTS), strict=True):
        assert got.logprob == pytest.approx(expected.logprob, abs=1e-4)
        assert got.num_tokens == expected.num_tokens
        assert got.is_greedy == expected.is_greedy


def test_served_adapter_is_selected_by_model_name(server, tiny_llm, adapter_dir) -> None:  # type: ignore[no-untyped-def]
    remote = OpenAICompatibleLLM(server.url, "tiny")
    request = REQUESTS[0]
    via_name = remote.loglikelihood(
        [LoglikelihoodRequest(request.context, request.continuation, adapter="patient")]
    )
    local = tiny_llm.loglikelihood(
        [LoglikelihoodRequest(request.context, request.continuation, str(adapter_dir))]
    )
    base = tiny_llm.loglikelihood([request])
    assert via_name[0].logprob == pytest.approx(local[0].logprob, abs=1e-4)
    assert abs(via_name[0].logprob - base[0].logprob) > 1e-3


def test_chat_completion_wire_format(server) -> None:  # type: ignore[no-untyped-def]
    payload = {
        "model": "tiny",
        "messages": item("Hello?"),
        "max_tokens": 5,
        "temperature": 0,
        "logprobs": True,
        "top_logprobs": 2,
    }
    body = httpx.post(f"{server.url}/v1/chat/completions", json=payload).json()
    assert body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] in {"stop", "length"}
    content = choice["logprobs"]["content"]
    assert len(content) == body["usage"]["completion_tokens"]
    for entry in content:
        assert len(entry["top_logprobs"]) == 2
        assert entry["logprob"] == pytest.approx(entry["top_logprobs"][0]["logprob"], abs=1e-5)  # greedy


def test_unknown_model_is_a_404_in_openai_format(server) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{server.url}/v1/chat/completions", json={"model": "nope", "messages": item("x"), "max_tokens": 1}
    )
    assert response.status_code == 404
    assert "nope" in response.json()["error"]["message"]
    with pytest.raises(BackendUnavailableError, match="404"):
        OpenAICompatibleLLM(server.url, "nope").generate([item("x")], GenerationParams(max_tokens=1))


class NoLogprobsHandler(JSONHandler):
    """A chat server in the style of one that ignores prompt_logprobs (most non-vLLM servers)."""

    def do_POST(self) -> None:
        self.json_body()
        message = {"role": "assistant", "content": "ok"}
        self.reply(
            200,
            {
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            },
        )


def test_server_without_prompt_logprobs_is_a_clear_error() -> None:
    with LoopbackServer(NoLogprobsHandler) as server:
        remote = OpenAICompatibleLLM(server.url, "m")
        assert remote.generate([item("hi")], GenerationParams(max_tokens=2)) == ["ok"]
        with pytest.raises(LogprobsUnavailableError, match="no prompt_logprobs"):
            remote.loglikelihood([REQUESTS[0]])


def test_unreachable_server_is_a_clear_error() -> None:
    with closed_port() as port:
        remote = OpenAICompatibleLLM(f"http://127.0.0.1:{port}", "tiny")
        remote.client.backoff_s = 0.01
        with pytest.raises(BackendUnavailableError, match="cannot reach"):
            remote.generate([item("hi")], GenerationParams(max_tokens=2))
