"""Checkpoint identity: a canonical content hash, equal across processes; adapters verified on load/export;
``--from`` trains and records the parent adapter's real LoRA settings."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jedi_academy.cli import main
from jedi_academy.errors import ConfigError, ModelLoadError
from jedi_academy.finetune.checkpoints import adapter_path, get_checkpoint
from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.service import FinetuneRequest, finetune
from jedi_academy.llm.adapters import ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapter_identity
from jedi_academy.store import ArtifactStore, open_database
from jedi_academy.store.models import DatasetVersion

CONFIG = TrainingConfig(
    lora_rank=4, lora_alpha=8, learning_rate=5e-3, max_steps=3, batch_size=8, grad_accumulation=1
)


def quiet(_: str) -> None:
    pass


def start_training(model: Path, data_dir: Path, train: Path, hash_seed: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "jedi_academy.cli", "--data-dir", str(data_dir), "--model", str(model),
               "--device", "cpu", "finetune", "--dataset", str(train), "--steps", "1", "--rank", "4",
               "--batch-size", "8", "--grad-accum", "1", "--lr", "0.005", "--json"]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return json.loads(out)


def test_two_processes_with_different_hash_seeds_give_the_same_checkpoint_id(
    tiny_dir, dataset_files, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    moved = tmp_path / "elsewhere" / "tiny-copy"
    shutil.copytree(tiny_dir, moved)  # another absolute base path
    running = [start_training(tiny_dir, tmp_path / "a", dataset_files[0], "1"),
               start_training(moved, tmp_path / "b", dataset_files[0], "4242")]  # fmt: skip
    first, second = (finished(process) for process in running)
    assert first["id"] == second["id"]
    assert first["adapter_sha256"] == second["adapter_sha256"]
    assert first["base_model"] != second["base_model"]  # the recorded path differs, the identity does not
    stored = next((tmp_path / "a" / "artifacts" / "adapter").iterdir())
    config = json.loads((stored / ADAPTER_CONFIG).read_text())
    assert config["target_modules"] == sorted(config["target_modules"])
    assert config["base_model_name_or_path"] == "tiny" and not (stored / "README.md").exists()


def test_adapter_identity_ignores_order_paths_and_versions_but_not_weights(
    tiny_settings, dataset_files, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    checkpoint = finetune(tiny_settings, FinetuneRequest(dataset=str(dataset_files[0])), CONFIG, echo=quiet)
    store = ArtifactStore(tiny_settings.data_dir)
    with open_database(tiny_settings).session() as session:
        stored = adapter_path(session, store, get_checkpoint(session, checkpoint.id))
    assert stored is not None
    original = adapter_identity(stored)
    variant = tmp_path / "variant"
    shutil.copytree(stored, variant)
    config = json.loads((variant / ADAPTER_CONFIG).read_text())
    config["target_modules"] = list(reversed(config["target_modules"]))
    config.update(base_model_name_or_path="/other/machine/tiny", peft_version="9.9", inference_mode=False)
    (variant / ADAPTER_CONFIG).write_text(json.dumps(config))
    (variant / "README.md").write_text("library versions that differ")
    assert adapter_identity(variant) == original
    config["r"] = 8
    (variant / ADAPTER_CONFIG).write_text(json.dumps(config))
    assert adapter_identity(variant) != original
    weights = bytearray((stored / ADAPTER_WEIGHTS).read_bytes())
    weights[-3] ^= 0x01
    shutil.copytree(stored, tmp_path / "flipped")
    (tmp_path / "flipped" / ADAPTER_WEIGHTS).write_bytes(bytes(weights))
    assert adapter_identity(tmp_path / "flipped") != original


def test_an_exported_adapter_is_verified_when_loaded(
    tiny_settings, tiny_dir, dataset_files, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.llm.transformers_backend import TransformersLLM

    checkpoint = finetune(tiny_settings, FinetuneRequest(dataset=str(dataset_files[0])), CONFIG, echo=quiet)
    out = tmp_path / "exported"
    base = ["--data-dir", str(tiny_settings.data_dir), "--model", tiny_settings.model]
    assert main([*base, "checkpoints", "export", checkpoint.id, "--out", str(out)]) == 0
    llm = TransformersLLM(tiny_dir, device="cpu", dtype="float32")
    assert llm.ensure_adapter(out)  # intact: loads
    weights = bytearray((out / ADAPTER_WEIGHTS).read_bytes())
    weights[-5] ^= 0x10
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / ADAPTER_WEIGHTS).write_bytes(bytes(weights))
    with pytest.raises(ModelLoadError, match="does not match the hash"):
        llm.ensure_adapter(broken)


def test_a_corrupted_adapter_is_refused_on_load_and_export(
    tiny_settings, dataset_files, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    checkpoint = finetune(tiny_settings, FinetuneRequest(dataset=str(dataset_files[0])), CONFIG, echo=quiet)
    store = ArtifactStore(tiny_settings.data_dir)
    database = open_database(tiny_settings)
    with database.session() as session:
        stored = adapter_path(session, store, get_checkpoint(session, checkpoint.id))
    assert stored is not None
    weights = bytearray((stored / ADAPTER_WEIGHTS).read_bytes())
    weights[len(weights) // 2] ^= 0xFF  # one flipped byte inside the tensor data
    (stored / ADAPTER_WEIGHTS).write_bytes(bytes(weights))

    with database.session() as session, pytest.raises(ModelLoadError, match="does not match its recorded"):
        adapter_path(session, store, get_checkpoint(session, checkpoint.id))
    base = ["--data-dir", str(tiny_settings.data_dir), "--model", tiny_settings.model]
    assert main([*base, "chat", "--checkpoint", checkpoint.id, "-m", "Hello", "--max-tokens", "2"]) == 1
    assert "does not match its recorded hash" in capsys.readouterr().err
    out = tmp_path / "export"
    assert main([*base, "checkpoints", "export", checkpoint.id, "--out", str(out)]) == 1
    assert "refusing to load it" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ModelLoadError, match="recorded hash"):
        finetune(tiny_settings, FinetuneRequest(dataset=str(dataset_files[0]), parent=checkpoint.id), CONFIG,
                 echo=quiet)  # fmt: skip


def test_from_keeps_the_parent_adapters_settings_and_refuses_conflicting_flags(
    tiny_settings, dataset_files, capsys
) -> None:  # type: ignore[no-untyped-def]
    parent = finetune(
        tiny_settings,
        FinetuneRequest(dataset=str(dataset_files[0])),
        CONFIG.model_copy(update={"lora_dropout": 0.1}),
        echo=quiet,
    )
    base = ["--data-dir", str(tiny_settings.data_dir), "--model", tiny_settings.model, "finetune",
            "--dataset", str(dataset_files[0]), "--from", parent.id, "--steps", "2", "--batch-size", "8",
            "--grad-accum", "1"]  # fmt: skip
    assert main([*base, "--rank", "8", "--dropout", "0.0"]) == 1
    err = capsys.readouterr().err
    assert "--rank 8 (its adapter has 4)" in err and "--dropout 0.0 (its adapter has 0.1)" in err
    assert main([*base, "--rank", "4", "--json"]) == 0  # agreeing flags are fine
    child = json.loads(capsys.readouterr().out)
    assert child["parent"] == parent.id
    hyper = child["hyperparameters"]
    assert (hyper["lora_rank"], hyper["lora_alpha"], hyper["lora_dropout"]) == (4, 8.0, 0.1)
    store = ArtifactStore(tiny_settings.data_dir)
    with open_database(tiny_settings).session() as session:
        folder = adapter_path(session, store, get_checkpoint(session, child["id"]))
    assert folder is not None
    trained = json.loads((folder / ADAPTER_CONFIG).read_text())
    assert (trained["r"], trained["lora_alpha"], trained["lora_dropout"]) == (4, 8.0, 0.1)


def test_remote_jobs_need_an_explicit_base_and_refuse_from(tiny_settings, dataset_files) -> None:  # type: ignore[no-untyped-def]
    request = FinetuneRequest(dataset=str(dataset_files[0]), backend="mistral-api")
    with pytest.raises(ConfigError, match="explicit base model"):
        finetune(tiny_settings, request, CONFIG, echo=quiet)
    request = FinetuneRequest(
        dataset=str(dataset_files[0]), backend="mistral-api", base_model="open-mistral-7b", parent="ck-any"
    )
    with pytest.raises(ConfigError, match="cannot continue from a checkpoint"):
        finetune(tiny_settings, request, CONFIG, echo=quiet)
    with open_database(tiny_settings).session() as session:  # refused before the file was imported
        assert session.query(DatasetVersion).count() == 0
