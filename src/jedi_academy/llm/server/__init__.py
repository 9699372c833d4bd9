"""``academy serve``: a local model behind the OpenAI chat-completions wire format, as vLLM serves it.

Clients written for OpenAI or vLLM work unchanged: the official ``openai`` client, streaming (server-sent
events), text content parts, ``n`` choices, the ``developer`` role, ``logprobs``/``top_logprobs`` with decoded
token text, errors in OpenAI's shape, and vLLM's scoring extensions (``prompt_logprobs``,
``continue_final_message``, ``add_generation_prompt``, ``min_tokens``). LoRA adapters are served as named
models, as with ``vllm serve --enable-lora --lora-modules NAME=PATH``, and with ``runtime_lora`` they are
loaded and unloaded while running through vLLM's ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter``.

Limits protect a shared machine: an optional bearer token, a request body size, a prompt no longer than the
model's positions, a cap on ``max_tokens``, a cap on concurrent requests, and a shutdown (SIGTERM) that ends
generation in progress within a token instead of waiting for it.

The modules, one concern each:

- ``state``: the limits, the served models and the plumbing every route shares (key, body size, slots);
- ``errors``: every error answered in OpenAI's shape;
- ``chat``: ``POST /v1/chat/completions`` (plain and streamed);
- ``models``: ``GET /v1/models``, ``/health`` and vLLM's runtime adapter endpoints;
- ``app``: ``create_app``, which puts them together;
- ``running``: the listening socket and uvicorn with a graceful SIGTERM.
"""

from jedi_academy.llm.server.app import create_app
from jedi_academy.llm.server.running import bind_listening_socket, run_server
from jedi_academy.llm.server.state import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_MAX_TOKENS,
    ServedModels,
    ServerLimits,
    context_length,
    model_positions,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_MAX_TOKENS",
    "ServedModels",
    "ServerLimits",
    "bind_listening_socket",
    "context_length",
    "create_app",
    "model_positions",
    "run_server",
]
