from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.data import (
    encode_examples,
    length_grouped_batches,
    padding_waste,
    read_conversations,
)
from jedi_academy.finetune.trainer import TrainingError, _RunState, train_lora
from jedi_academy.llm import LoglikelihoodRequest
from jedi_academy.llm.chat_format import load_formatter
from jedi_academy.llm.transformers_backend import TransformersLLM

FAST = TrainingConfig(
    lora_rank=8,
    lora_alpha=16,
    learning_rate=5e-3,
    max_steps=12,
    batch_size=8,
    grad_accumulation=1,
    eval_every=4,
    save_every=4,
    warmup_fraction=0.1,
)


def examples(tiny_dir, dataset_files):  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    train = encode_examples(read_conversations(dataset_files[0]), formatter, 512).examples
    validation = encode_examples(read_conversations(dataset_files[1]), formatter, 512).examples
    return formatter, train, validation


def adapter_tensors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "adapter_model.safetensors"))


def test_training_loss_falls_and_validation_is_recorded(tiny_dir, dataset_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    formatter, train, validation = examples(tiny_dir, dataset_files)
    result = train_lora(
        tiny_dir, train, validation, FAST, tmp_path / "run", pad_id=formatter.pad_id, show_progress=False
    )
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3
    assert [v["step"] for v in result.validation] == [4, 8, 12]
    assert result.validation[-1]["loss"] < result.validation[0]["loss"]
    assert (result.adapter_dir / "adapter_config.json").is_file()
    assert not _RunState(tmp_path / "run").exists()


def test_adapter_reloads_with_identical_logprobs(tiny_dir, dataset_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    formatter, train, validation = examples(tiny_dir, dataset_files)
    result = train_lora(
        tiny_dir, train, validation, FAST, tmp_path / "run", pad_id=formatter.pad_id, show_progress=False
    )
    context = [{"role": "user", "content": "How have you been feeling lately?"}]
    request = LoglikelihoodRequest(context, "Nearly every day.", adapter=str(result.adapter_dir))
    first = TransformersLLM(tiny_dir, device="cpu", dtype="float32").loglikelihood([request])[0]
    second = TransformersLLM(tiny_dir, device="cpu", dtype="float32").loglikelihood([request])[0]
    base = TransformersLLM(tiny_dir, device="cpu", dtype="float32").loglikelihood(
        [LoglikelihoodRequest(context, "Nearly every day.")]
    )[0]
    assert first.logprob == second.logprob
    assert first.logprob > base.logprob + 0.5  # trained towards these answers


def test_interrupted_run_resumes_to_the_same_adapter(tiny_dir, dataset_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    formatter, train, validation = examples(tiny_dir, dataset_files)
    straight = train_lora(
        tiny_dir, train, validation, FAST, tmp_path / "a", pad_id=formatter.pad_id, show_progress=False
    )

    def interrupt(step: int, _loss: float) -> None:
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_lora(
            tiny_dir,
            train,
            validation,
            FAST,
            tmp_path / "b",
            pad_id=formatter.pad_id,
            show_progress=False,
            on_step=interrupt,
        )
    assert _RunState(tmp_path / "b").info()["step"] == 6
    with pytest.raises(TrainingError, match="--resume"):
        train_lora(
            tiny_dir, train, validation, FAST, tmp_path / "b", pad_id=formatter.pad_id, show_progress=False
        )
    resumed = train_lora(
        tiny_dir,
        train,
        validation,
        FAST,
        tmp_path / "b",
        pad_id=formatter.pad_id,
        show_progress=False,
        resume=True,
    )
    assert resumed.resumed_from == 6
    assert [h["loss"] for h in resumed.history] == pytest.approx(
        [h["loss"] for h in straight.history], abs=1e-5
    )
    expected, got = adapter_tensors(straight.adapter_dir), adapter_tensors(resumed.adapter_dir)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], atol=1e-6, rtol=1e-5)


def test_nan_loss_stops_with_a_clear_message_and_keeps_state(tiny_dir, dataset_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    broken = tmp_path / "broken"
    model = AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.float32)
    with torch.no_grad():
        model.model.norm.weight.fill_(float("nan"))
    model.save_pretrained(broken)
    (broken / "tokenizer.model.v3").write_bytes((tiny_dir / "tokenizer.model.v3").read_bytes())
    formatter, train, validation = examples(tiny_dir, dataset_files)
    with pytest.raises(TrainingError, match=r"loss became nan at step 1.*last good state \(step 0\)"):
        train_lora(
            broken, train, validation, FAST, tmp_path / "run", pad_id=formatter.pad_id, show_progress=False
        )
    assert (_RunState(tmp_path / "run").path / "adapter" / "adapter_config.json").is_file()


def test_length_grouping_keeps_padding_low(tiny_dir) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.finetune.data import Example

    lengths = [10 + (i * 37) % 300 for i in range(400)]
    fake = [Example([1] * n, [1] * n) for n in lengths]
    grouped = length_grouped_batches(fake, 10_000, seed=0, epoch=0, max_examples=8)
    assert sorted(i for batch in grouped for i in batch) == list(range(400))
    naive = [list(range(i, i + 8)) for i in range(0, 400, 8)]
    assert padding_waste(fake, grouped) < 0.05 < padding_waste(fake, naive)
    assert grouped == length_grouped_batches(fake, 10_000, seed=0, epoch=0, max_examples=8)
    assert grouped != length_grouped_batches(fake, 10_000, seed=0, epoch=1, max_examples=8)


def test_token_budget_batches_hold_about_the_same_tokens() -> None:
    from jedi_academy.finetune.data import Example

    lengths = [20 + (i * 53) % 900 for i in range(600)]
    fake = [Example([1] * n, [1] * n) for n in lengths]
    batches = length_grouped_batches(fake, 2048, seed=3, epoch=0)
    assert sorted(i for batch in batches for i in batch) == list(range(600))
    padded = [len(batch) * max(lengths[i] for i in batch) for batch in batches]
    assert max(padded) <= 2048
    # short examples share a micro-batch, long ones get one each: tokens per micro-batch, not examples
    assert max(len(b) for b in batches) >= 8 * min(len(b) for b in batches)
    assert padding_waste(fake, batches) < 0.05
