"""7B-ready training defaults that CPU can check: device resolution, QLoRA loading arguments, the optimizer,
token-weighted loss across accumulation, crash-safe resume state, and the memory estimate."""

import json
import os
import shutil

import pytest
import torch

from jedi_academy.cli import main
from jedi_academy.finetune import trainer
from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.data import encode_examples, read_conversations
from jedi_academy.finetune.memory import MISTRAL_7B_V03, ModelShape, estimate_memory
from jedi_academy.finetune.trainer import (
    TrainingError,
    _RunState,
    accumulate_gradients,
    attach_lora,
    device_placement,
    quantized_load_kwargs,
    resolve_config,
)
from jedi_academy.llm.chat_format import load_formatter
from jedi_academy.llm.tiny import TINY_CONFIG


@pytest.fixture(scope="module")
def lora_model(tiny_dir):  # type: ignore[no-untyped-def]
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(tiny_dir), dtype=torch.float32)
    return attach_lora(base, TrainingConfig(lora_rank=4, lora_dropout=0.0), None)


def test_cuda_defaults_and_device_placement() -> None:
    config = TrainingConfig()
    assert config.adam_betas == (0.9, 0.95) and config.batch_tokens == 16384
    on_gpu = config.for_device("cuda", bf16_supported=True)
    assert on_gpu.gradient_checkpointing is True and on_gpu.precision == "bfloat16"
    on_cpu = config.for_device("cpu", bf16_supported=False)
    assert on_cpu.gradient_checkpointing is False and on_cpu.precision == "float32"
    explicit = TrainingConfig(gradient_checkpointing=False).for_device("cuda", bf16_supported=True)
    assert explicit.gradient_checkpointing is False  # an explicit choice is kept
    assert TrainingConfig(max_seq_len=32768).batch_tokens == 32768

    assert device_placement("cuda:1") == torch.device("cuda", 1)
    assert device_placement("cpu") == torch.device("cpu")
    kwargs = quantized_load_kwargs(torch.device("cuda", 1))
    assert kwargs["device_map"] == {"": 1}  # GPU 1, not 0
    quantization = kwargs["quantization_config"]
    assert quantization.load_in_4bit and quantization.bnb_4bit_use_double_quant
    assert quantization.bnb_4bit_quant_type == "nf4" and quantization.bnb_4bit_compute_dtype == torch.bfloat16
    with pytest.raises(TrainingError, match="needs a CUDA GPU"):
        quantized_load_kwargs(torch.device("cpu"))
    assert resolve_config(TrainingConfig(), torch.device("cpu")).gradient_checkpointing is False


def test_loss_is_token_weighted_across_accumulation(tiny_dir, dataset_files, lora_model) -> None:  # type: ignore[no-untyped-def]
    formatter = load_formatter(tiny_dir)
    examples = encode_examples(read_conversations(dataset_files[0]), formatter, 512).examples
    short = sorted(examples, key=lambda e: e.trained_tokens)
    micro = [short[:1], short[-3:]]  # very different numbers of trained tokens
    device = torch.device("cpu")

    def gradients(batches) -> tuple[float, list[torch.Tensor]]:  # type: ignore[no-untyped-def]
        lora_model.zero_grad(set_to_none=True)
        loss, _ = accumulate_gradients(lora_model, batches, formatter.pad_id, device)
        return loss, [p.grad.clone() for p in lora_model.parameters() if p.requires_grad]

    split_loss, split = gradients(micro)
    whole_loss, whole = gradients([micro[0] + micro[1]])  # one batch: the plain mean over all tokens
    assert split_loss == pytest.approx(whole_loss, rel=1e-5)
    for a, b in zip(split, whole, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    means = []
    for batch in micro:
        loss, _ = accumulate_gradients(lora_model, [batch], formatter.pad_id, device)
        means.append(loss)
    assert abs(sum(means) / 2 - whole_loss) > 1e-3  # a per-micro-batch mean would differ


def test_a_crash_inside_any_save_step_never_loses_the_committed_state(lora_model, tmp_path) -> None:  # type: ignore[no-untyped-def]
    weights = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.AdamW([weights], betas=(0.9, 0.95))
    weights.grad = torch.ones(3)
    optimizer.step()  # so the optimizer has state (moments) to save
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)

    class Killed(BaseException):
        pass

    real = {"replace": os.replace, "rmtree": shutil.rmtree, "save": torch.save}
    real["durably"] = trainer._write_durably
    crash_point = 1  # crash at the first file operation of the save, then the second, ... until none is left
    outcomes = set()
    while True:
        run_dir = tmp_path / f"run{crash_point}"
        state = _RunState(run_dir)
        run_dir.mkdir()
        state.save(lora_model, optimizer, scheduler, {"step": 5, "history": [], "validation": []})
        calls = 0

        def maybe_crash(name: str, at: int = crash_point):  # type: ignore[no-untyped-def]
            def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
                nonlocal calls
                calls += 1
                if calls == at:
                    raise Killed
                return real[name](*args, **kwargs)

            return wrapped

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(trainer.os, "replace", maybe_crash("replace"))
            patch.setattr(trainer.shutil, "rmtree", maybe_crash("rmtree"))
            patch.setattr(trainer.torch, "save", maybe_crash("save"))
            patch.setattr(trainer, "_write_durably", maybe_crash("durably"))
            try:
                state.save(lora_model, optimizer, scheduler, {"step": 10, "history": [], "validation": []})
                crashed = False
            except Killed:
                crashed = True
        step = _RunState(run_dir).info()["step"]  # never "no state": the old or the new one
        assert step in (5, 10)
        outcomes.add(step)
        if not crashed:
            assert step == 10
            break
        crash_point += 1
    assert outcomes == {5, 10} and crash_point >= 6
    # the committed state loads without unpickling code
    assert torch.load(_RunState(run_dir).path / "optim.pt", weights_only=True)["optimizer"]["state"]
    torch.load(_RunState(run_dir).path / "rng.pt", weights_only=True)


def test_parameter_counts_are_exact() -> None:
    seven_b = ModelShape.from_config(MISTRAL_7B_V03)
    assert seven_b.base_parameters() == 7_248_023_552
    targets = TrainingConfig().target_modules
    assert seven_b.lora_parameters(8, targets) == 2_621_440 * 8
    assert seven_b.lora_parameters(64, targets) == 167_772_160

    from transformers import MistralConfig, MistralForCausalLM

    tiny = MistralForCausalLM(MistralConfig(**TINY_CONFIG))
    shape = ModelShape.from_config(TINY_CONFIG)
    assert shape.base_parameters() == sum(p.numel() for p in tiny.parameters())
    peft = attach_lora(tiny, TrainingConfig(lora_rank=4), None)
    assert shape.lora_parameters(4, targets) == sum(p.numel() for p in peft.parameters() if p.requires_grad)


def test_memory_estimate_and_dry_run(capsys) -> None:  # type: ignore[no-untyped-def]
    shape = ModelShape.from_config(MISTRAL_7B_V03)
    gpu = TrainingConfig().for_device("cuda", bf16_supported=True)
    default = estimate_memory(shape, gpu)
    no_checkpointing = estimate_memory(shape, gpu.model_copy(update={"gradient_checkpointing": False}))
    qlora = estimate_memory(shape, gpu.model_copy(update={"quantization": "4bit"}))
    assert no_checkpointing.layer_activation_bytes > 10 * default.layer_activation_bytes
    assert qlora.weights_bytes < default.weights_bytes / 3
    h100 = "80 GiB (A100-80G, H100)"
    assert default.fits()[h100] and not no_checkpointing.fits()[h100]

    assert main(["finetune", "--dry-run", "--base", "mistralai/Mistral-7B-v0.3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["lora_parameters"] == 167_772_160 and report["gradient_checkpointing"] is True
    assert report["gib"]["total"] == pytest.approx(default.total_bytes / 2**30)
    assert main(["finetune", "--dry-run", "--base", "mistralai/Mistral-7B-v0.3", "--rank", "8"]) == 0
    assert "21.0 M trainable" in capsys.readouterr().out
    assert main(["finetune", "--dry-run", "--base", "nobody/unknown-model"]) == 1
    assert "shape of 'nobody/unknown-model' is not known" in capsys.readouterr().err
