"""``academy serve`` as a process: refusing to bind beyond loopback without a key, checkpoints served by id,
the bearer token, limits answered in OpenAI's shape, and SIGTERM during a request."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest

from jedi_academy.cli import main
from tests.http_helpers import ServedProcess

ACADEMY = [sys.executable, "-m", "jedi_academy.cli"]
HELLO = [{"role": "user", "content": "How was your week?"}]


@contextmanager
def serving(*args: str) -> Iterator[tuple[subprocess.Popen, str, ServedProcess]]:
    served = ServedProcess([*ACADEMY, *args])
    try:
        yield served.process, served.url, served
    finally:
        served.stop()


def wait_for_in_flight(url: str, count: int) -> None:
    """Poll /health until ``count`` requests are being answered (the deadline only bounds a hang)."""
    deadline = time.monotonic() + 120
    while httpx.get(f"{url}/health", timeout=10).json()["in_flight"] != count:
        assert time.monotonic() < deadline, f"never {count} requests in flight"
        time.sleep(0.05)


def test_binding_beyond_loopback_needs_a_key(capsys, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    code = main(["--model", str(tiny_dir), "serve", "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: refusing to serve on 0.0.0.0 without an API key")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2  # error and hint
    code = main(["--model", str(tiny_dir), "serve", "--lora", "no-equals-sign"])
    assert code == 1 and "is not NAME=ADAPTER_DIR" in capsys.readouterr().err
    code = main(["--model", str(tiny_dir), "serve", "--lora-modules", '{"name": "a"}'])
    assert code == 1 and "is not a JSON object with 'name' and 'path'" in capsys.readouterr().err


@pytest.mark.slow(reason="a served process loads two checkpoints and is stopped mid-generation")
def test_served_process_checkpoints_key_limits_and_sigterm_mid_request(trained) -> None:  # type: ignore[no-untyped-def]
    settings, ids = trained
    args = ["--data-dir", str(settings.data_dir), "serve", "--checkpoint", ids[0], "--checkpoint", ids[1][:8]]
    with serving(*args, "--api-key", "k3y", "--max-tokens", "4000") as (process, url, served):
        api = openai.OpenAI(base_url=f"{url}/v1", api_key="k3y", max_retries=0, timeout=60)
        assert [m.id for m in api.models.list()] == [
            settings.model,
            *ids,
        ]  # the base comes from the checkpoints
        assert httpx.get(f"{url}/v1/models").status_code == 401
        base = settings.model

        with pytest.raises(openai.BadRequestError) as oversized:
            api.chat.completions.create(model=base, messages=HELLO, max_tokens=100_000_000)
        assert oversized.value.code == "max_tokens_exceeded"
        with pytest.raises(openai.BadRequestError) as too_long:  # 4,096 positions in the tiny model
            api.chat.completions.create(model=ids[0], messages=[{"role": "user", "content": "hello " * 5000}])
        assert too_long.value.code == "context_length_exceeded"

        failures: list[BaseException] = []

        def plain_long_request() -> None:
            try:
                api.chat.completions.create(
                    model=ids[1], messages=HELLO, max_tokens=4000, extra_body={"min_tokens": 4000}
                )
            except BaseException as exc:  # the test inspects it
                failures.append(exc)

        stream = api.chat.completions.create(
            model=base, messages=HELLO, max_tokens=4000, stream=True, extra_body={"min_tokens": 4000}
        )
        chunks = iter(stream)
        next(chunks), next(chunks)  # generating now
        received = 2
        waiting = threading.Thread(target=plain_long_request)
        waiting.start()
        wait_for_in_flight(url, 2)  # the plain request has reached the server too
        process.send_signal(signal.SIGTERM)
        with pytest.raises(openai.APIError, match="shutting down"):
            for _ in chunks:
                received += 1
        process.wait(timeout=120)
        waiting.join(timeout=120)
        assert not waiting.is_alive()
        # the stream ended on the signal, far short of the 4,000 tokens it was asked for (one chunk a token)
        assert received < 4000
        assert process.returncode in (0, -signal.SIGTERM)
        assert len(failures) == 1 and "shutting down" in str(failures[0])
        log = served.log()
        assert "Traceback" not in log and "academy serve: stopping (2 request(s) in flight)" in log
