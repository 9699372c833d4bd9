import math
import shutil

import pytest
import torch

from jedi_academy.errors import ModelLoadError
from jedi_academy.llm import GenerationParams, LoglikelihoodRequest
from jedi_academy.llm.transformers_backend import TransformersLLM

PATIENT = [{"role": "system", "content": "You are a patient in therapy."}]


def item(question: str) -> list[dict[str, str]]:
    return [*PATIENT, {"role": "user", "content": question}]


REQUESTS = [
    *[LoglikelihoodRequest(item("How often do you feel down? Answer 0-3."), str(v)) for v in range(4)],
    LoglikelihoodRequest(item("Do you sleep well?"), "Not really, I wake up at four every night."),
    LoglikelihoodRequest([{"role": "user", "content": "Hi"}], "Hello"),
]


def test_generates_text_reproducibly(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    conversations = [item("How was your week?"), item("Tell me about your family.")]
    params = GenerationParams(temperature=0.9, max_tokens=12, seed=5)
    first = tiny_llm.generate(conversations, params)
    assert len(first) == 2 and all(isinstance(t, str) and t for t in first)
    assert tiny_llm.generate(conversations, params) == first
    greedy = GenerationParams(temperature=0.0, max_tokens=12)
    assert tiny_llm.generate(conversations, greedy) == tiny_llm.generate(conversations, greedy)


def test_batched_generation_matches_one_by_one_when_greedy(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    conversations = [
        item("Short?"),
        item("A much longer question about how the last fortnight has been going?"),
    ]
    greedy = GenerationParams(temperature=0.0, max_tokens=8)
    batched = tiny_llm.generate(conversations, greedy)
    assert batched == [tiny_llm.generate([c], greedy)[0] for c in conversations]


def test_loglikelihoods_are_finite_negative_and_count_tokens(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    results = tiny_llm.loglikelihood(REQUESTS)
    assert len(results) == len(REQUESTS)
    for request, result in zip(REQUESTS, results, strict=True):
        assert math.isfinite(result.logprob) and result.logprob < 0
        full = tiny_llm.formatter.encode_with_reply(request.context, request.continuation, close=False)
        assert result.num_tokens == len(full) - len(tiny_llm.formatter.encode_prompt(request.context))


def test_batched_shared_prefix_and_single_scoring_agree(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    batched = tiny_llm.loglikelihood(REQUESTS)
    singles = [tiny_llm.loglikelihood([r])[0] for r in REQUESTS]
    tiny_llm.reuse_prefix_cache = False
    try:
        without_cache = tiny_llm.loglikelihood(REQUESTS)
    finally:
        tiny_llm.reuse_prefix_cache = True
    for a, b, c in zip(batched, singles, without_cache, strict=True):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert a.logprob == pytest.approx(c.logprob, abs=1e-4)


def test_loglikelihood_matches_a_plain_forward_pass(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    request = REQUESTS[4]
    prompt = tiny_llm.formatter.encode_prompt(request.context)
    full = tiny_llm.formatter.encode_with_reply(request.context, request.continuation, close=False)
    with tiny_llm.using_adapter(None), torch.no_grad():  # other tests may have loaded adapters
        logits = tiny_llm.model(input_ids=torch.tensor([full])).logits[0]
    logprobs = torch.log_softmax(logits, dim=-1)
    expected = sum(float(logprobs[i - 1, full[i]]) for i in range(len(prompt), len(full)))
    assert tiny_llm.loglikelihood([request])[0].logprob == pytest.approx(expected, abs=1e-4)


def test_greedy_continuation_is_reported_as_greedy(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    prompt = tiny_llm.formatter.encode_prompt(item("Anything else?"))
    generated = tiny_llm.generate_ids([prompt], GenerationParams(temperature=0.0, max_tokens=6))[0]
    scores = tiny_llm.token_scores(prompt + generated.token_ids, len(prompt), top_k=1)
    assert [s.rank for s in scores] == [1] * len(generated.token_ids)
    assert all(s.top[0][0] == s.token_id for s in scores)


def test_stop_strings_cut_the_reply(tiny_llm) -> None:  # type: ignore[no-untyped-def]
    free = tiny_llm.generate([item("Go on.")], GenerationParams(temperature=0.0, max_tokens=16))[0]
    marker = free.strip()[3:6]
    assert marker
    stopped = tiny_llm.generate(
        [item("Go on.")], GenerationParams(temperature=0.0, max_tokens=16, stop=(marker,))
    )[0]
    assert marker not in stopped
    assert free.startswith(stopped)


def make_adapter(base_dir, out_dir, seed: int) -> None:  # type: ignore[no-untyped-def]
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out_dir)


def test_lora_adapter_per_request(tiny_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_adapter(tiny_dir, tmp_path / "a1", seed=1)
    llm = TransformersLLM(tiny_dir, model_name="tiny", device="cpu", dtype="float32")
    base_before = llm.loglikelihood(REQUESTS[:2])
    mixed = llm.loglikelihood(
        [
            LoglikelihoodRequest(REQUESTS[0].context, REQUESTS[0].continuation, adapter=str(tmp_path / "a1")),
            REQUESTS[0],
        ]
    )
    assert mixed[1].logprob == pytest.approx(base_before[0].logprob, abs=1e-5)
    assert abs(mixed[0].logprob - base_before[0].logprob) > 1e-3
    assert llm.loglikelihood(REQUESTS[:2])[0].logprob == pytest.approx(base_before[0].logprob, abs=1e-5)
    assert llm.describe()["adapters"] == [str((tmp_path / "a1").resolve())]


def test_missing_or_invalid_adapter_is_a_clear_error(tiny_llm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match="does not exist"):
        tiny_llm.ensure_adapter(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"adapter_config\.json"):
        tiny_llm.ensure_adapter(tmp_path / "empty")


def test_local_model_folder_loads_through_the_same_path(tiny_dir, tmp_path, settings) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "my-mistral"
    shutil.copytree(tiny_dir, copy)
    llm = TransformersLLM.from_settings(settings, model=str(copy))
    assert llm.describe()["chat_format"] == "mistral-common"
    request = REQUESTS[0]
    reference = TransformersLLM(tiny_dir, device="cpu", dtype="float32").loglikelihood([request])[0]
    assert llm.loglikelihood([request])[0].logprob == pytest.approx(reference.logprob, abs=1e-5)


def test_unknown_model_names_are_clear_errors(settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match="does not exist"):
        TransformersLLM.from_settings(settings, model="./no-such-folder")
    with pytest.raises(ModelLoadError, match="unknown model"):
        TransformersLLM.from_settings(settings, model="gpt-banana")


def test_tiny_name_builds_and_caches_the_model(settings) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.llm.tiny import tiny_model_dir

    llm = TransformersLLM.from_settings(settings, model="tiny")
    folder = tiny_model_dir(settings)
    assert (folder / "config.json").is_file() and (folder / "tokenizer.model.v3").is_file()
    assert llm.describe()["parameters"] == 4_268_352
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    TransformersLLM.from_settings(settings, model="tiny")
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp
