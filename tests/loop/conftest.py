"""A data directory with the tiny model, two depression personas with a few conversations, a dataset version,
a briefly trained LoRA patient checkpoint on it, a therapist, a case on that checkpoint and one replayed
session: the state right before a loop iteration. Built once per test session and copied per test.

The session is replayed with a planted base model under the checkpoint's adapter (tests/sessions/
planted_patient.py): a patient that answers Yes or No, so its recommendations are real decisions (accepted or
ignored) with follow-ups; the random tiny model's would all be invalid_preference. The loop itself loads its
models from disk, as `academy loop` does."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.results import plain
from jedi_academy.store import Database, open_database
from tests.factories import add_conversation, add_persona
from tests.sessions.planted_patient import yes_no_patient

SCRIPT_SEED = 5
# Tiny settings: the mechanics do not depend on size.
TRAINING = {"lora_rank": 4, "lora_alpha": 8.0, "learning_rate": 1e-3, "max_steps": 4, "batch_size": 4,
            "max_seq_len": 1024, "eval_every": 4, "save_every": 1}  # fmt: skip
LOOP = {"max_tokens": 12, "steps": 2}
# A therapist who reads out PHQ-9 item 9 (the template session's last turn): the loop leaves that turn alone
# out of training (issue 26 point 6; tests/loop/test_guards.py).
ITEM_9 = "Have you had thoughts that you would be better off dead or of hurting yourself in some way?"
QUESTIONS = ["How have you been sleeping?", "What does a bad day look like?", "Who do you talk to?"]
ANSWERS = ["Badly. I wake at four.", "I stay in bed and skip lunch.", "My sister, sometimes."]


@dataclass
class LoopWorld:
    root: Path
    settings: Any
    database: Database
    case_id: str
    session_id: str
    start_checkpoint: str
    start_dataset: str
    cli: list[str]


def build_world(root: Path, tiny_dir: Path, probe: Any) -> LoopWorld:
    from jedi_academy.config import load_settings
    from jedi_academy.datasets.versions import build_dataset
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from jedi_academy.loop.protocol import OpenCase, open_case_with_baseline
    from jedi_academy.sessions import (
        ModelPool,
        ModelSpec,
        ScriptTurn,
        SessionOptions,
        add_therapist,
        replay_session,
    )
    from jedi_academy.store import ArtifactStore

    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    for persona, name in (("p-robin", "Robin"), ("p-sam", "Sam")):
        add_persona(database, persona, name=name)
        for index in range(2):
            add_conversation(
                database, f"c-{persona}-{index}", persona, list(zip(QUESTIONS, ANSWERS, strict=True))
            )
    version, _ = build_dataset(
        database, ArtifactStore(settings.data_dir), ["depression"], validation_fraction=0
    )
    request = FinetuneRequest(dataset=version.id, specialization="depression", show_progress=False)
    checkpoint = finetune(settings, request, TrainingConfig(**TRAINING), echo=lambda _text: None)
    add_therapist(database, "Ada Lovelace")
    # as `academy case open` does: the measurement protocol fixed and the baseline measured at opening
    request = OpenCase("Ada Lovelace", "depression", persona="p-robin", checkpoint=checkpoint.id)
    case = open_case_with_baseline(settings, database, request)
    script = [
        ScriptTurn("How was your week?"),
        ScriptTurn("Could you walk after breakfast?", ("Take a short walk after breakfast",)),
        ScriptTurn("And note when you wake.", ("Keep a sleep diary",)),
        ScriptTurn(ITEM_9),
    ]
    pool = ModelPool(settings)
    pool.share(ModelSpec("transformers", str(tiny_dir), None), yes_no_patient(tiny_dir, probe, 0.6))
    record = replay_session(
        database,
        pool,
        case.id,
        script,
        seed=SCRIPT_SEED,
        options=SessionOptions(max_tokens=8, extract=False),
    )
    cli = ["--data-dir", str(settings.data_dir), "--model", str(tiny_dir), "--device", "cpu"]
    return LoopWorld(
        root, settings, database, case.id, record.session_id, checkpoint.id, version.id, cli
    )


@pytest.fixture(scope="session")
def loop_template(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> LoopWorld:
    return build_world(tmp_path_factory.mktemp("loop-template"), tiny_dir, tiny_llm)


def copy_world(template: LoopWorld, root: Path) -> LoopWorld:
    """An independent copy of the template's data directory (database and artifacts)."""
    from jedi_academy.config import load_settings

    shutil.copytree(template.settings.data_dir, root / "data")
    settings = load_settings(data_dir=root / "data", model=template.settings.model, device="cpu")
    cli = ["--data-dir", str(settings.data_dir), *template.cli[2:]]
    return LoopWorld(
        root,
        settings,
        open_database(settings),
        template.case_id,
        template.session_id,
        template.start_checkpoint,
        template.start_dataset,
        cli,
    )


@pytest.fixture
def world(loop_template: LoopWorld, tmp_path: Path) -> LoopWorld:
    return copy_world(loop_template, tmp_path)


def context_for(world: LoopWorld) -> Any:
    """A loop context that loads its models the way `academy loop` does, so in-process and subprocess runs
    give the same ids."""
    from jedi_academy.loop import LoopContext

    return LoopContext(world.settings, world.database)


@pytest.fixture(scope="session")
def looped(loop_template: LoopWorld, tmp_path_factory: pytest.TempPathFactory) -> tuple[LoopWorld, Any]:
    """A copy of the template after one uninterrupted loop iteration: the reference result (tests that change
    the case work on their own copy of it)."""
    from jedi_academy.loop import LoopOptions, run_loop

    world = copy_world(loop_template, tmp_path_factory.mktemp("looped"))
    stages: list[tuple[str, str]] = []
    result = run_loop(
        context_for(world),
        world.session_id,
        LoopOptions(**LOOP),
        on_stage=lambda s, st, _m: stages.append((s, st)),
    )
    return world, {"result": result, "stages": stages}


def same_outcome(first: Any, second: Any) -> None:
    """Two loop results (``LoopView`` or its JSON: a job's result, `academy loop --json`) name the same
    dataset, checkpoint and scores."""
    first, second = plain(first), plain(second)
    for key in (
        "dataset_id",
        "parent_dataset_id",
        "checkpoint_id",
        "parent_checkpoint_id",
        "conversation_ids",
    ):
        assert first[key] == second[key], key
    for name in ("scores", "change_vs_previous", "change_vs_baseline"):
        left = {
            i: {k: v for k, v in s.items() if k != "run_id"} for i, s in first["assessment"][name].items()
        }
        right = {
            i: {k: v for k, v in s.items() if k != "run_id"} for i, s in second["assessment"][name].items()
        }
        assert left == right, name
