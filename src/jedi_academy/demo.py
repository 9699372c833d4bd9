"""``make demo`` / ``academy demo``: the offline demonstration of what has landed so far."""

from __future__ import annotations

from collections.abc import Callable

from jedi_academy.config import Settings
from jedi_academy.terminal_text import terminal_safe

NOTICE = (
    "Note: the tiny model has random weights, so its text is meaningless. The mechanics are real:\n"
    "the same code runs Mistral-7B-Instruct-v0.3 with `--model mistralai/Mistral-7B-Instruct-v0.3`\n"
    "(or a local folder) on a GPU, a vLLM server with `--backend openai --base-url http://HOST:8000`,\n"
    "or the Mistral API with `--backend mistral --model mistral-small-latest` (generation only)."
)


def run_demo(settings: Settings, echo: Callable[[str], None] = print) -> None:
    from jedi_academy.llm import GenerationParams, LoglikelihoodRequest
    from jedi_academy.llm.tiny import build_tiny_model, tiny_model_dir
    from jedi_academy.llm.transformers_backend import TransformersLLM
    from jedi_academy.store import open_database
    from jedi_academy.store.db import current_revision

    database = open_database(settings)
    echo(
        f"[1/4] database ready: {settings.resolved_database_url} (schema {current_revision(database.engine)})"
    )

    model_dir = build_tiny_model(tiny_model_dir(settings))
    llm = TransformersLLM(model_dir, model_name="tiny", device="cpu", dtype="float32")
    info = llm.describe()
    echo(f"[2/4] tiny model at {model_dir}: {info['architecture']}, {info['parameters']:,} parameters,")
    echo(f"      chat format {info['chat_format']} (the real Mistral v3 tokenizer)")

    system = "You are Sam, a patient in a first therapy session. You have felt low for weeks."
    question = "Over the last two weeks, how often have you had little interest or pleasure in doing things?"
    conversation = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    reply = llm.generate(
        [conversation], GenerationParams(temperature=0.8, max_tokens=24, seed=settings.seed)
    )[0]
    echo("[3/4] chat")
    echo(f"      therapist> {question}")
    echo(f"      patient>   {terminal_safe(reply)}")

    options = ["Not at all", "Several days", "More than half the days", "Nearly every day"]
    results = llm.loglikelihood([LoglikelihoodRequest(conversation, option) for option in options])
    echo("[4/4] log-likelihood of each answer option (the questionnaire-scoring primitive)")
    for option, result in zip(options, results, strict=True):
        echo(f"      {result.logprob:10.4f}  ({result.num_tokens} tokens)  {option}")
    echo("")
    echo(NOTICE)
