"""Constrained decoding: even the random tiny model must produce schema-valid JSON."""

import json

import httpx
import jsonschema
import pytest

from jedi_academy.llm import GenerationParams
from jedi_academy.llm.openai_backend import OpenAICompatibleLLM
from jedi_academy.llm.server import create_app
from tests.conftest import ServerThread

CARD_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2, "maxLength": 12},
        "severity": {"type": "string", "enum": ["mild", "moderate", "severe"]},
        "score": {"type": "integer", "minimum": 0, "maximum": 3},
        "evidence": {
            "type": "array",
            "items": {"type": "string", "enum": ["c1a", "c2b", "c3c"]},
            "minItems": 1,
            "maxItems": 2,
        },
    },
    "required": ["name", "severity", "score", "evidence"],
    "additionalProperties": False,
}
CHAT = [{"role": "user", "content": "Describe the patient as JSON."}]


def test_unconstrained_tiny_model_does_not_write_json(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    text = tiny_llm.generate([CHAT], GenerationParams(temperature=0.0, max_tokens=30))[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_constrained_replies_are_schema_valid(tiny_llm, temperature) -> None:  # type: ignore[no-untyped-def]
    params = GenerationParams(temperature=temperature, max_tokens=120, seed=3, json_schema=CARD_SCHEMA)
    for text in tiny_llm.generate([CHAT, CHAT, [{"role": "user", "content": "Other"}]], params):
        jsonschema.validate(json.loads(text), CARD_SCHEMA)


def test_response_format_over_http(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    with ServerThread(create_app(tiny_llm, "tiny")) as server:
        remote = OpenAICompatibleLLM(server.url, "tiny")
        schema = {
            "type": "object",
            "properties": {"answer": {"type": "integer", "enum": [1, 2, 3, 4]}},
            "required": ["answer"],
        }
        reply = remote.generate(
            [CHAT], GenerationParams(temperature=1.0, max_tokens=20, seed=1, json_schema=schema)
        )[0]
        assert json.loads(reply)["answer"] in {1, 2, 3, 4}
        bad = httpx.post(
            f"{server.url}/v1/chat/completions",
            json={"model": "tiny", "messages": CHAT, "response_format": {"type": "grammar"}},
        )
        assert bad.status_code == 400 and "response_format" in bad.json()["error"]["message"]


def test_properties_come_in_schema_order(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    schema = {
        "type": "object",
        "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "integer"}},
        "required": ["zeta", "alpha"],
        "additionalProperties": False,
    }
    text = tiny_llm.generate([CHAT], GenerationParams(temperature=0.0, max_tokens=40, json_schema=schema))[0]
    assert text.index('"zeta"') < text.index('"alpha"')
