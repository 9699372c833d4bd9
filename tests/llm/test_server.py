"""``academy serve`` against the official ``openai`` client on loopback: the wire format that clients and vLLM
users expect (streaming, content parts, ``n``, the developer role, decoded logprob tokens, OpenAI-shaped
errors), the request limits, and vLLM's runtime adapter endpoints."""

from __future__ import annotations

import json
import threading
import time

import httpx
import openai
import pytest

from jedi_academy.llm import GenerationParams, LoglikelihoodRequest
from jedi_academy.llm.openai_backend import OpenAICompatibleLLM
from jedi_academy.llm.server import ServerLimits, create_app
from tests.conftest import ServerThread
from tests.llm.test_transformers_backend import REQUESTS, make_adapter

HELLO = [{"role": "system", "content": "You are Sam."}, {"role": "user", "content": "How was your week?"}]


def client(server: ServerThread, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def error_of(response: httpx.Response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body  # never FastAPI's {"detail": [...]}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


@pytest.fixture(scope="module")
def adapter_dir(tiny_dir, tmp_path_factory):  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("adapters") / "patient"
    make_adapter(tiny_dir, path, seed=5)
    return path


@pytest.fixture(scope="module")
def server(tiny_llm):  # type: ignore[no-untyped-def]
    with ServerThread(create_app(tiny_llm, "tiny")) as running:
        yield running


def test_openai_client_gets_the_local_greedy_reply(server, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    reply = client(server).chat.completions.create(model="tiny", messages=HELLO, max_tokens=12, temperature=0)
    local = tiny_llm.generate([HELLO], GenerationParams(temperature=0.0, max_tokens=12))[0]
    assert reply.choices[0].message.content == local
    assert reply.choices[0].finish_reason in {"stop", "length"}
    assert reply.usage is not None and reply.usage.prompt_tokens == len(
        tiny_llm.formatter.encode_prompt(HELLO)
    )


def test_openai_client_streams_the_same_reply(server) -> None:  # type: ignore[no-untyped-def]
    api = client(server)
    whole = api.chat.completions.create(model="tiny", messages=HELLO, max_tokens=30, temperature=0)
    stream = api.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=30, temperature=0, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    pieces, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    assert chunks > 3  # token by token, not one blob
    assert "".join(pieces) == whole.choices[0].message.content
    assert finish == whole.choices[0].finish_reason
    assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_stop_strings_are_never_streamed(server) -> None:  # type: ignore[no-untyped-def]
    api = client(server)
    free = api.chat.completions.create(model="tiny", messages=HELLO, max_tokens=20, temperature=0)
    text = free.choices[0].message.content or ""
    stop = text[6:9]  # three characters from the middle of the greedy reply
    assert len(stop) == 3
    whole = api.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=20, temperature=0, stop=[stop]
    )
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in api.chat.completions.create(
            model="tiny", messages=HELLO, max_tokens=20, temperature=0, stop=[stop], stream=True
        )
        if chunk.choices
    )
    assert whole.choices[0].message.content == text[: text.index(stop)] == streamed
    assert whole.choices[0].finish_reason == "stop"


def test_content_parts_and_developer_role_mean_the_same_as_plain_text(server) -> None:  # type: ignore[no-untyped-def]
    api = client(server)
    plain = api.chat.completions.create(model="tiny", messages=HELLO, max_tokens=8, temperature=0)
    parts = api.chat.completions.create(
        model="tiny",
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "You are Sam."}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "How was "}, {"type": "text", "text": "your week?"}],
            },
        ],
        max_tokens=8,
        temperature=0,
    )
    assert parts.choices[0].message.content == plain.choices[0].message.content
    assert parts.usage.prompt_tokens == plain.usage.prompt_tokens  # type: ignore[union-attr]


def test_n_choices_plain_and_streamed(server) -> None:  # type: ignore[no-untyped-def]
    api = client(server)
    options = {"model": "tiny", "messages": HELLO, "max_tokens": 10, "temperature": 1.0, "n": 3, "seed": 7}
    reply = api.chat.completions.create(**options, logprobs=True)  # type: ignore[call-overload]
    assert [c.index for c in reply.choices] == [0, 1, 2]
    texts = [c.message.content for c in reply.choices]
    assert len(set(texts)) > 1  # independent samples
    assert reply.usage.completion_tokens == sum(len(c.logprobs.content) for c in reply.choices)
    streamed: dict[int, str] = {0: "", 1: "", 2: ""}
    for chunk in api.chat.completions.create(**options, stream=True):  # type: ignore[call-overload]
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert [streamed[i] for i in range(3)] == texts  # same seed, same samples


def test_logprobs_carry_decoded_text_not_sentencepiece_pieces(server) -> None:  # type: ignore[no-untyped-def]
    reply = client(server).chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=12, temperature=0, logprobs=True, top_logprobs=3
    )
    choice = reply.choices[0]
    entries = choice.logprobs.content  # type: ignore[union-attr]
    assert len(entries) == reply.usage.completion_tokens  # type: ignore[union-attr]
    assert not any("\u2581" in e.token for e in entries)
    assert any(e.token.startswith(" ") for e in entries)  # word starts are spaces, as in the text
    joined = b"".join(bytes(e.bytes or []) for e in entries).decode("utf-8", errors="replace")
    assert joined.strip() == (choice.message.content or "").strip()
    for entry in entries:
        assert len(entry.top_logprobs) == 3
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob, abs=1e-5)  # greedy


def test_streamed_logprobs_match_the_plain_ones(server) -> None:  # type: ignore[no-untyped-def]
    api = client(server)
    plain = api.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=8, temperature=0, logprobs=True, top_logprobs=2
    )
    streamed = []
    for chunk in api.chat.completions.create(
        model="tiny", messages=HELLO, max_tokens=8, temperature=0, logprobs=True, top_logprobs=2, stream=True
    ):
        for choice in chunk.choices:
            if choice.logprobs and choice.logprobs.content:
                streamed.extend(choice.logprobs.content)
    expected = plain.choices[0].logprobs.content  # type: ignore[union-attr]
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == [
        (e.token, round(e.logprob, 4)) for e in expected
    ]


def test_errors_are_openai_shaped(server) -> None:  # type: ignore[no-untyped-def]
    api = client(server)
    with pytest.raises(openai.BadRequestError) as image:
        api.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
        )
    assert "only text content parts" in image.value.message
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="nope", messages=HELLO, max_tokens=1)
    with pytest.raises(openai.BadRequestError, match="tool calling"):
        api.chat.completions.create(
            model="tiny", messages=HELLO, max_tokens=1,
            tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}],
        )  # fmt: skip

    url = f"{server.url}/v1/chat/completions"
    cases = [
        ({"model": "tiny"}, "messages"),  # FastAPI would answer 422 with {"detail": [...]}
        ({"model": "tiny", "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
        ({"model": "tiny", "messages": HELLO, "n": 0}, "n"),
        ({"model": "tiny", "messages": HELLO, "temperature": "hot"}, "temperature"),
        ({"model": "tiny", "messages": HELLO, "top_logprobs": 2}, "top_logprobs"),
        ({"model": "tiny", "messages": [{"role": "user", "content": "a"}, HELLO[0]]}, "messages.1.role"),
    ]
    for payload, param in cases:
        response = httpx.post(url, json=payload)
        assert response.status_code == 400, payload
        error = error_of(response)
        assert error["type"] == "invalid_request_error" and error["param"] == param, error
    response = httpx.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "not valid JSON" in error_of(response)["message"]
    response = httpx.get(f"{server.url}/v1/nothing-here")
    assert response.status_code == 404 and error_of(response)["type"] == "NotFoundError"


def test_the_openai_backend_still_scores_through_the_server(server, tiny_llm) -> None:  # type: ignore[no-untyped-def]
    remote = OpenAICompatibleLLM(server.url, "tiny")
    got, expected = remote.loglikelihood(REQUESTS[:2]), tiny_llm.loglikelihood(REQUESTS[:2])
    assert [round(r.logprob, 3) for r in got] == [round(r.logprob, 3) for r in expected]


# ---------------------------------------------------------------------------------------------- limits


def test_prompt_longer_than_the_context_and_oversized_max_tokens_are_refused(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    limits = ServerLimits(max_model_len=64, max_tokens=20)
    with ServerThread(create_app(tiny_llm, "tiny", limits=limits)) as running:
        api = client(running)
        long_prompt = [{"role": "user", "content": "word " * 200}]
        with pytest.raises(openai.BadRequestError) as too_long:
            api.chat.completions.create(model="tiny", messages=long_prompt, max_tokens=1)
        assert too_long.value.code == "context_length_exceeded"
        assert "context is 64 tokens" in too_long.value.message
        with pytest.raises(openai.BadRequestError) as too_many:
            api.chat.completions.create(model="tiny", messages=HELLO, max_tokens=100_000_000)
        assert too_many.value.code == "max_tokens_exceeded" and "limit of 20" in too_many.value.message
        prompt_tokens = len(tiny_llm.formatter.encode_prompt(HELLO))
        narrow = ServerLimits(max_model_len=prompt_tokens + 5, max_tokens=20)
        with ServerThread(create_app(tiny_llm, "tiny", limits=narrow)) as small:
            with pytest.raises(openai.BadRequestError) as no_room:
                client(small).chat.completions.create(model="tiny", messages=HELLO, max_tokens=6)
            assert no_room.value.code == "context_length_exceeded" and "leaving 5" in no_room.value.message
            fits = client(small).chat.completions.create(
                model="tiny", messages=HELLO, temperature=0, extra_body={"min_tokens": 5}
            )
            assert fits.usage.completion_tokens == 5 and fits.choices[0].finish_reason == "length"  # type: ignore[union-attr]


def test_the_model_positions_bound_the_context(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.errors import AcademyError

    positions = tiny_llm.model.config.max_position_embeddings
    with pytest.raises(AcademyError, match=f"model's {positions} positions"):
        create_app(tiny_llm, "tiny", limits=ServerLimits(max_model_len=positions + 1))
    with ServerThread(create_app(tiny_llm, "tiny")) as running:
        card = httpx.get(f"{running.url}/v1/models").json()["data"][0]
        assert card["max_model_len"] == positions


def test_body_size_limit(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with ServerThread(create_app(tiny_llm, "tiny", limits=ServerLimits(max_body_bytes=2000))) as running:
        big = {"model": "tiny", "messages": [{"role": "user", "content": "x" * 5000}]}
        response = httpx.post(f"{running.url}/v1/chat/completions", json=big)
        assert response.status_code == 413 and error_of(response)["code"] == "request_too_large"

        def chunked():  # no Content-Length: the limit still holds while reading
            yield b'{"model": "tiny", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}]}'

        response = httpx.post(f"{running.url}/v1/chat/completions", content=chunked())
        assert response.status_code == 413


def test_bearer_token(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with ServerThread(create_app(tiny_llm, "tiny", limits=ServerLimits(api_key="s3cret"))) as running:
        with pytest.raises(openai.AuthenticationError):
            client(running, "wrong").models.list()
        response = httpx.get(f"{running.url}/v1/models")
        assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key"
        assert [m.id for m in client(running, "s3cret").models.list()] == ["tiny"]
        assert httpx.get(f"{running.url}/health").status_code == 200  # probes need no key
        remote = OpenAICompatibleLLM(running.url, "tiny", api_key="s3cret")
        assert len(remote.generate([HELLO], GenerationParams(temperature=0.0, max_tokens=3))) == 1


class CountingLLM:
    """The real tiny model, noting how many tokens each generation produced: a test then proves that a
    generation stopped early by counting its tokens, not by timing it on a machine of unknown load."""

    def __init__(self, llm) -> None:  # type: ignore[no-untyped-def]
        self._llm = llm
        self.generated: list[int] = []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._llm, name)

    def generate_ids(self, prompts, params, adapter=None, hooks=None):  # type: ignore[no-untyped-def]
        results = self._llm.generate_ids(prompts, params, adapter, hooks)
        self.generated.extend(len(result.token_ids) for result in results)
        return results


def test_concurrency_limit_and_disconnect_frees_the_slot(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    counting = CountingLLM(tiny_llm)
    with ServerThread(create_app(counting, "tiny", limits=ServerLimits(max_concurrent=1))) as running:
        api = client(running)
        long = {"model": "tiny", "messages": HELLO, "max_tokens": 4000, "stream": True}
        stream = api.chat.completions.create(**long, extra_body={"min_tokens": 4000})  # type: ignore[call-overload]
        next(iter(stream))
        with pytest.raises(openai.RateLimitError) as busy:
            api.chat.completions.create(model="tiny", messages=HELLO, max_tokens=1)
        assert "limit of 1 concurrent" in busy.value.message
        stream.close()  # the client goes away: its generation stops and the slot is free again
        wait_for_a_free_slot(api)
        # the long generation stopped, not finished; the second is the probe that found the slot free
        assert len(counting.generated) == 2 and counting.generated[0] < 4000

        # the same for a plain request whose client gives up waiting
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{running.url}/v1/chat/completions",
                json={"model": "tiny", "messages": HELLO, "max_tokens": 4000, "min_tokens": 4000},
                timeout=1.5,
            )
        wait_for_a_free_slot(api)
        assert len(counting.generated) == 4 and counting.generated[2] < 4000


def wait_for_a_free_slot(api: openai.OpenAI) -> None:
    """Poll until a one-token request gets through; the deadline only bounds a hang (whether the long
    generation stopped early is checked by counting its tokens)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            api.chat.completions.create(model="tiny", messages=HELLO, max_tokens=1)
            return
        except openai.RateLimitError:
            assert time.monotonic() < deadline, "the slot was never freed"
            time.sleep(0.1)


def test_shutdown_ends_a_request_in_progress(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    counting = CountingLLM(tiny_llm)
    app = create_app(counting, "tiny")
    with ServerThread(app) as running:
        api = client(running)
        failures: list[BaseException] = []

        def long_plain_request() -> None:
            try:
                api.chat.completions.create(
                    model="tiny", messages=HELLO, max_tokens=3000, extra_body={"min_tokens": 3000}
                )
            except BaseException as exc:  # the test inspects it
                failures.append(exc)

        worker = threading.Thread(target=long_plain_request)
        worker.start()
        stream = api.chat.completions.create(
            model="tiny", messages=HELLO, max_tokens=3000, stream=True, extra_body={"min_tokens": 3000}
        )
        iterator = iter(stream)
        next(iterator)
        app.state.stopping.set()  # what SIGTERM does (run_server's signal handler)
        with pytest.raises(openai.APIError, match="shutting down"):
            for _ in iterator:
                pass
        worker.join(timeout=120)
        assert not worker.is_alive()
        assert len(failures) == 1 and isinstance(failures[0], openai.InternalServerError)
        assert "shutting down" in str(failures[0])
        # both generations ended on the signal, far short of the 3,000 tokens they were asked for
        assert len(counting.generated) <= 2 and all(n < 3000 for n in counting.generated)


# ---------------------------------------------------------------------------------------------- adapters


def test_runtime_adapter_loading_as_vllm_does(tiny_llm, adapter_dir) -> None:  # type: ignore[no-untyped-def]
    with ServerThread(create_app(tiny_llm, "tiny")) as plain:
        response = httpx.post(f"{plain.url}/v1/load_lora_adapter", json={"lora_name": "a", "lora_path": "x"})
        assert response.status_code == 404  # like vLLM without VLLM_ALLOW_RUNTIME_LORA_UPDATING

    with ServerThread(create_app(tiny_llm, "tiny", runtime_lora=True)) as running:
        url = running.url
        body = {"lora_name": "ck-patient", "lora_path": str(adapter_dir)}
        response = httpx.post(f"{url}/v1/load_lora_adapter", json=body)
        assert response.status_code == 200 and "added successfully" in response.text
        again = httpx.post(f"{url}/v1/load_lora_adapter", json=body)
        assert again.status_code == 400 and "already been loaded" in error_of(again)["message"]
        missing = httpx.post(
            f"{url}/v1/load_lora_adapter", json={"lora_name": "gone", "lora_path": str(adapter_dir / "nope")}
        )
        assert missing.status_code == 400 and "does not exist" in error_of(missing)["message"]
        assert [m.id for m in client(running).models.list()] == ["tiny", "ck-patient"]

        remote = OpenAICompatibleLLM(url, "tiny")
        request = REQUESTS[0]
        named = LoglikelihoodRequest(request.context, request.continuation, adapter="ck-patient")
        local = LoglikelihoodRequest(request.context, request.continuation, adapter=str(adapter_dir))
        assert remote.loglikelihood([named])[0].logprob == pytest.approx(
            tiny_llm.loglikelihood([local])[0].logprob, abs=1e-4
        )
        assert (
            abs(remote.loglikelihood([named])[0].logprob - tiny_llm.loglikelihood([request])[0].logprob)
            > 1e-3
        )

        response = httpx.post(f"{url}/v1/unload_lora_adapter", json={"lora_name": "ck-patient"})
        assert response.status_code == 200 and "removed successfully" in response.text
        with pytest.raises(openai.NotFoundError):
            client(running).chat.completions.create(model="ck-patient", messages=HELLO, max_tokens=1)
        response = httpx.post(f"{url}/v1/unload_lora_adapter", json={"lora_name": "ck-patient"})
        assert response.status_code == 404 and error_of(response)["type"] == "NotFoundError"
        # the base model is untouched by loading and unloading
        assert remote.loglikelihood([request])[0].logprob == pytest.approx(
            tiny_llm.loglikelihood([request])[0].logprob, abs=1e-4
        )


def test_structured_output_streams_the_same_valid_json(server) -> None:  # type: ignore[no-untyped-def]
    schema = {
        "type": "object",
        "properties": {"mood": {"type": "integer", "minimum": 0, "maximum": 10}},
        "required": ["mood"],
        "additionalProperties": False,
    }
    options = {
        "model": "tiny",
        "messages": HELLO,
        "max_tokens": 40,
        "temperature": 0,
        "response_format": {"type": "json_schema", "json_schema": {"name": "mood", "schema": schema}},
    }
    api = client(server)
    plain = api.chat.completions.create(**options).choices[0].message.content  # type: ignore[call-overload]
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in api.chat.completions.create(**options, stream=True)  # type: ignore[call-overload]
        if chunk.choices
    )
    assert streamed == plain and 0 <= json.loads(streamed)["mood"] <= 10


def test_a_port_in_use_is_a_clear_error_and_port_zero_takes_a_free_one() -> None:
    from jedi_academy.errors import AcademyError
    from jedi_academy.llm.server import bind_listening_socket

    with bind_listening_socket("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        assert port != 0
        taken.listen()
        with pytest.raises(AcademyError, match=rf"cannot listen on 127\.0\.0\.1:{port}") as refused:
            bind_listening_socket("127.0.0.1", port)
        assert refused.value.hint is not None and "--port" in refused.value.hint


BOGUS_SCHEMA = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "bogus"}}}
UNMATCHED = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(("}}}
BAD_PATTERN = {"type": "json_schema", "json_schema": {"name": "x", "schema": UNMATCHED}}


@pytest.mark.parametrize(
    ("body", "param", "says"),
    [
        (b'{"model": "tiny", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}", None, "levels deep"),
        (
            b'{"model": "tiny", "messages": [], "response_format": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3001,
            None,
            "levels deep",
        ),
        (b'{"model": "tiny", "messages": [{"role": "user", "content": "\\ud800"}]}', None, "not valid JSON"),
        (
            json.dumps({"model": "tiny", "messages": HELLO, "response_format": BOGUS_SCHEMA}).encode(),
            "response_format.json_schema",
            'Unsupported type "bogus"',
        ),
        (
            json.dumps(
                {"model": "tiny", "messages": HELLO, "stream": True, "response_format": BOGUS_SCHEMA}
            ).encode(),
            "response_format.json_schema",
            "cannot be followed",
        ),
        (
            json.dumps(
                {"model": "tiny", "messages": HELLO, "response_format": {**BOGUS_SCHEMA, "json_schema": "x"}}
            ).encode(),
            "response_format.json_schema",
            "needs a 'schema' object",
        ),
        (
            json.dumps({"model": "tiny", "messages": HELLO, "response_format": BAD_PATTERN}).encode(),
            "response_format.json_schema",
            "cannot be followed",
        ),
    ],
    ids=["deep-array", "deep-object", "lone-surrogate", "bogus-schema", "bogus-schema-streamed",
         "schema-not-object", "bad-pattern"],
)
def test_malformed_requests_are_refused_without_a_traceback(server, capfd, body, param, says) -> None:  # type: ignore[no-untyped-def]
    response = httpx.post(
        f"{server.url}/v1/chat/completions", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    assert says in error["message"]
    assert "Traceback" not in capfd.readouterr().err


def test_the_api_description_is_behind_the_key(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with ServerThread(create_app(tiny_llm, "tiny", limits=ServerLimits(api_key="s3cret"))) as running:
        for path in ("/openapi.json", "/docs"):
            response = httpx.get(f"{running.url}{path}")
            assert response.status_code == 401 and error_of(response)["code"] == "invalid_api_key", path
            keyed = httpx.get(f"{running.url}{path}", headers={"Authorization": "Bearer s3cret"})
            assert keyed.status_code == 200, path
        spec = httpx.get(f"{running.url}/openapi.json", headers={"Authorization": "Bearer s3cret"}).json()
        assert "/v1/chat/completions" in spec["paths"]
        assert httpx.get(f"{running.url}/redoc").status_code in (401, 404)
    with ServerThread(create_app(tiny_llm, "tiny")) as open_server:  # no key: the description stays open
        assert httpx.get(f"{open_server.url}/openapi.json").status_code == 200
