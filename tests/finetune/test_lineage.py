"""finetune() end to end: dataset import, training, atomic registration, lineage, export, delete, chat."""

import json

import pytest

from jedi_academy.cli import main
from jedi_academy.errors import AcademyError
from jedi_academy.finetune.checkpoints import (
    adapter_path,
    delete_checkpoint,
    get_checkpoint,
    lineage_tree,
    list_checkpoints,
)
from jedi_academy.finetune.config import TrainingConfig
from jedi_academy.finetune.service import FinetuneRequest, finetune
from jedi_academy.store import ArtifactStore, open_database
from jedi_academy.store.artifacts import sha256_tree
from jedi_academy.store.models import DatasetVersion

CONFIG = TrainingConfig(
    lora_rank=4,
    lora_alpha=8,
    learning_rate=5e-3,
    max_steps=4,
    batch_size=8,
    grad_accumulation=1,
    eval_every=2,
    save_every=2,
)


def quiet(_: str) -> None:
    pass


def test_lineage_hashes_and_housekeeping(tiny_settings, dataset_files, tmp_path) -> None:  # type: ignore[no-untyped-def]
    train, validation = dataset_files
    request = FinetuneRequest(
        dataset=str(train), validation_file=validation, specialization=None, show_progress=False
    )
    first = finetune(tiny_settings, request, CONFIG, echo=quiet)
    assert first.kind == "lora" and first.parent_id is None and first.base_model == tiny_settings.model
    assert first.hyperparameters["lora_rank"] == 4 and first.seed == 0
    assert first.metrics["validation_loss"] is not None and len(first.metrics["history"]) == 4
    assert first.metrics["trained_tokens_card_visible_share"] == 1.0
    assert first.metrics["train_examples"] == 48  # 24 two-turn conversations: one example per trained turn
    assert first.hyperparameters["adam_betas"] == [0.9, 0.95]
    assert first.hyperparameters["gradient_checkpointing"] is False  # resolved for the CPU, not "auto"

    database = open_database(tiny_settings)
    store = ArtifactStore(tiny_settings.data_dir)
    with database.session() as session:
        row = get_checkpoint(session, first.id[:7])
        folder = adapter_path(session, store, row)
        assert folder is not None and sha256_tree(folder) == row.adapter_sha256
        dataset = session.get(DatasetVersion, row.dataset_id)
        assert dataset is not None and dataset.stats["train"] == 24 and dataset.stats["validation"] == 4

    again = finetune(tiny_settings, request, CONFIG, echo=quiet)
    assert again.id == first.id  # same inputs, same seed: the same checkpoint

    child = finetune(
        tiny_settings,
        FinetuneRequest(dataset=first.dataset_id[:10], parent=first.id, show_progress=False),
        CONFIG,
        echo=quiet,
    )
    assert child.parent_id == first.id and child.adapter_sha256 != first.adapter_sha256
    with database.session() as session:
        tree = lineage_tree(list_checkpoints(session))
    assert tree.index(first.id) < tree.index(child.id)
    assert "    └── " + child.id in tree

    exported = tmp_path / "export"
    assert (
        main(
            [
                "--data-dir",
                str(tiny_settings.data_dir),
                "checkpoints",
                "export",
                child.id,
                "--out",
                str(exported),
            ]
        )
        == 0
    )
    assert (exported / "adapter_config.json").is_file() and (exported / "adapter_model.safetensors").is_file()
    assert json.loads((exported / "checkpoint.json").read_text())["parent"] == first.id

    with pytest.raises(AcademyError, match="descendant"):
        delete_checkpoint(database, first.id)
    assert delete_checkpoint(database, first.id, force=True) == [child.id, first.id]


def test_cli_finetune_checkpoints_and_chat(tiny_settings, dataset_files, capsys) -> None:  # type: ignore[no-untyped-def]
    train, validation = dataset_files
    base = ["--data-dir", str(tiny_settings.data_dir), "--model", tiny_settings.model]
    code = main([*base, "finetune", "--dataset", str(train), "--validation", str(validation), "--steps", "3",
                 "--rank", "4", "--lr", "0.005", "--batch-size", "8", "--grad-accum", "1",
                 "--json"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    summary = json.loads(out)
    assert summary["kind"] == "lora" and summary["hyperparameters"]["max_steps"] == 3

    assert main([*base, "checkpoints", "list"]) == 0
    assert summary["id"] in capsys.readouterr().out
    assert main([*base, "checkpoints", "tree"]) == 0
    assert summary["id"] in capsys.readouterr().out
    assert main([*base, "chat", "--checkpoint", summary["id"], "-m", "Hello", "--max-tokens", "4"]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith("model> ")

    assert main([*base, "finetune", "--dataset", str(train), "--steps", "0"]) == 2  # a usage error
    assert "Invalid value for '--steps'" in capsys.readouterr().err
    assert main([*base, "checkpoints", "show", "ck-nope"]) == 1
    assert "no checkpoint 'ck-nope'" in capsys.readouterr().err


def test_bad_dataset_lines_are_named(tiny_settings, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n{oops\n'
    )
    code = main(
        [
            "--data-dir",
            str(tiny_settings.data_dir),
            "--model",
            tiny_settings.model,
            "finetune",
            "--dataset",
            str(bad),
        ]
    )
    assert code == 1
    assert f"{bad.name}, line 2: not valid JSON" in capsys.readouterr().err
    with open_database(tiny_settings).session() as session:
        assert session.query(DatasetVersion).count() == 0
