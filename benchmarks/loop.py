"""Wall time of one improvement-loop iteration on the tiny model (CPU), step by step, for both re-fine-tuning
strategies and with and without the no-therapist control arm, measured in the same run, and an ESTIMATE (not a
measurement) for Mistral-7B on one GPU.

Setup (not timed): the tiny model, two personas with six short conversations each, a dataset version, a LoRA
patient checkpoint trained on it (rank 8, 12 steps), a case on it and one replayed session with two
recommendations. Then, on two copies of that data directory:

* baseline: ``retrain`` (a fresh adapter from the base model on the merged version, with the parent's
  settings and as many steps as the parent had);
* ``continue`` (the loop's default): the parent's adapter trained on for a quarter of its steps on the merged
  version, which replays the parent's data alongside the new conversations.

Both without the control arm (``--no-control``); then, on a third copy, ``continue`` with the control arm
(the loop's default: a control child from the same parent with the same budget on as many neutral
conversations, measured alike; loop/control.py).

Printed: seconds per step (expand, merge, refine, reassess, control), the refine ratio continue/retrain, the
first and last training loss and the validation loss of each, the time per iteration with and without the
control arm, and the ESTIMATE of both for Mistral-7B on one H100.

Run: ``python -m benchmarks.loop``
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

# ESTIMATE inputs for Mistral-7B-v0.3 on one H100/H200 (bfloat16, LoRA r=64): assumed, never measured
GPU_ESTIMATE = {
    "model_load_s": 40.0,  # 14.5 GB of safetensors from local NVMe, once per worker
    "generation_tokens_per_s": 35.0,  # one unbatched HF generate stream
    "training_tokens_per_s": 5720.0,  # Mistral's own planning figure for 7B LoRA per H100
    "assessment_seconds_per_item_forward": 0.05,  # one ~600-token prompt forward pass
}
QUESTIONS = [
    "How have you been sleeping?",
    "What does a bad day look like?",
    "Who do you talk to?",
    "What did you do at the weekend?",
    "How is work going?",
    "What helps, even a little?",
]
ANSWERS = [
    "Badly. I wake at four and lie there.",
    "I stay in bed and skip lunch.",
    "My sister, sometimes.",
    "Nothing much, I watched TV.",
    "I get through the day, just.",
    "Walking the dog, some days.",
]
PARENT_STEPS = 12


def card_v1(name: str) -> dict[str, Any]:
    ev = ["c1"]
    return {
        "name": name,
        "presenting_problems": [{"text": "Low mood that has lasted for months", "evidence": ev}],
        "symptoms": [{"text": "Poor sleep, waking early", "evidence": ev, "severity": "severe"}],
        "history": [{"text": "A similar episode at university", "evidence": ev}],
        "context": {
            "age_band": "25-34",
            "occupation": {"text": "Works in a warehouse", "evidence": ev},
            "relationships": {"text": "Lives alone, close to a sister", "evidence": ev},
        },
        "coping": [{"text": "Long walks", "evidence": ev}],
        "speaking_style": {"text": "Short, flat sentences", "evidence": ev},
        "goals": [{"text": "Enjoy weekends again", "evidence": ev}],
        "resistances": [{"text": "Doubts that talking helps", "evidence": ev}],
    }


def build(root: Path) -> dict[str, Any]:
    import torch

    from jedi_academy.config import load_settings
    from jedi_academy.datasets.versions import build_dataset
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.service import FinetuneRequest, finetune
    from jedi_academy.llm.tiny import build_tiny_model
    from jedi_academy.personas import PersonaCardV1
    from jedi_academy.sessions import (
        ModelPool,
        ScriptTurn,
        SessionOptions,
        add_therapist,
        open_case,
        replay_session,
    )
    from jedi_academy.store import ArtifactStore, open_database
    from jedi_academy.store.models import Conversation, Persona, Specialization, Turn

    torch.set_num_threads(1)
    tiny = build_tiny_model(root / "tiny")
    settings = load_settings(data_dir=root / "data", model=str(tiny), device="cpu")
    database = open_database(settings)
    with database.session() as session:
        session.add(Specialization(id="depression", display_name="Depression", definition_sha256="0" * 64))
    for persona, name in (("p-robin", "Robin"), ("p-sam", "Sam")):
        card = PersonaCardV1.model_validate(card_v1(name))
        with database.session() as session:
            session.add(
                Persona(
                    id=persona,
                    specialization_id="depression",
                    card=card.model_dump(),
                    backend="transformers",
                    model="tiny",
                    prompt_version="bench",
                )
            )
            session.flush()
            for index in range(6):
                conversation = Conversation(
                    id=f"c-{persona}-{index}",
                    persona_id=persona,
                    specialization_id="depression",
                    provenance={},
                )
                turns = list(zip(QUESTIONS[index:] + QUESTIONS[:index], ANSWERS, strict=True))[:4]
                conversation.turns = [Turn(turn=i, question=q, answer=a) for i, (q, a) in enumerate(turns)]
                session.add(conversation)
    version, _ = build_dataset(
        database, ArtifactStore(settings.data_dir), ["depression"], validation_fraction=0
    )
    config = TrainingConfig(
        lora_rank=8,
        lora_alpha=16,
        learning_rate=5e-3,
        max_steps=PARENT_STEPS,
        batch_size=4,
        max_seq_len=1024,
        eval_every=PARENT_STEPS,
        save_every=10,
    )
    request = FinetuneRequest(dataset=version.id, specialization="depression", show_progress=False)
    checkpoint = finetune(settings, request, config, echo=lambda _text: None)
    add_therapist(database, "Bench")
    case = open_case(database, "Bench", "depression", persona="p-robin", checkpoint=checkpoint.id)
    script = [
        ScriptTurn("How was your week?"),
        ScriptTurn("Could you walk after breakfast?", ("Take a short walk after breakfast",)),
        ScriptTurn("And note when you wake.", ("Keep a sleep diary",)),
    ]
    record = replay_session(
        database,
        ModelPool(settings),
        case.id,
        script,
        seed=1,
        options=SessionOptions(max_tokens=24, extract=False),
    )
    return {"settings": settings, "session_id": record.session_id}


def run_copy(
    world: dict[str, Any], root: Path, strategy: str, steps: int, control: bool = False
) -> dict[str, Any]:
    from jedi_academy.config import load_settings
    from jedi_academy.loop import LoopContext, LoopOptions, run_loop
    from jedi_academy.store import open_database

    shutil.copytree(world["settings"].data_dir, root / "data")
    settings = load_settings(data_dir=root / "data", model=world["settings"].model, device="cpu")
    started = time.perf_counter()
    result = run_loop(
        LoopContext(settings, open_database(settings)),
        world["session_id"],
        LoopOptions(max_tokens=48, strategy=strategy, steps=steps, control=control),
    ).as_dict()
    result["wall_s"] = time.perf_counter() - started
    return result


def gpu_estimate(result: dict[str, Any]) -> dict[str, float]:
    """Seconds for the same loop on Mistral-7B, from the GPU_ESTIMATE rates (an estimate, never measured)."""
    conversations = max(1, len(result["conversation_ids"]) - 1)  # the session's own turns need no generation
    generated_tokens = conversations * 3 * 160  # three answers of up to 160 tokens per follow-up
    parent_steps = 300  # `academy finetune`'s default for 7B
    tokens_per_step = 8 * 2048  # batch 8 at 2048 tokens, the 7B defaults
    training_tokens = (parent_steps // 4) * tokens_per_step
    items = sum(1 for _ in result["assessment"]["scores"]) * 9 * 4 * 2  # ~9 items, 4 shifts, child + parent
    estimate = {
        "model_load_s": GPU_ESTIMATE["model_load_s"],
        "expand_s": generated_tokens / GPU_ESTIMATE["generation_tokens_per_s"],
        "refine_s": training_tokens / GPU_ESTIMATE["training_tokens_per_s"] + GPU_ESTIMATE["model_load_s"],
        "reassess_s": items * GPU_ESTIMATE["assessment_seconds_per_item_forward"],
    }
    estimate["total_s"] = sum(estimate.values())
    return estimate


def control_estimate(result: dict[str, Any]) -> dict[str, float]:
    """Seconds the control arm adds to the same loop on Mistral-7B (an ESTIMATE from GPU_ESTIMATE): as many
    neutral conversations as the loop added, each the placebo script's four questions answered by the
    teacher (every one generated, unlike the session's own transcript), the same training (the base model
    stays loaded in the worker, so no second load) and one more measurement (the control child)."""
    from jedi_academy.loop.control import neutral_script

    questions = max(len(session) for session in neutral_script()["sessions"])
    conversations = len(result["conversation_ids"])
    training_tokens = (300 // 4) * 8 * 2048
    items = sum(1 for _ in result["assessment"]["scores"]) * 9 * 4  # the control child only
    estimate = {
        "expand_s": conversations * questions * 160 / GPU_ESTIMATE["generation_tokens_per_s"],
        "refine_s": training_tokens / GPU_ESTIMATE["training_tokens_per_s"],
        "reassess_s": items * GPU_ESTIMATE["assessment_seconds_per_item_forward"],
    }
    estimate["total_s"] = sum(estimate.values())
    return estimate


def main(argv: list[str] | None = None) -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-loop-"))
    try:
        print(
            "setting up (not timed): tiny model, dataset, parent checkpoint, one replayed session ...",
            flush=True,
        )
        world = build(root / "world")
        retrain = run_copy(world, root / "retrain", "retrain", PARENT_STEPS)
        keep = run_copy(world, root / "continue", "continue", PARENT_STEPS // 4)
        controlled = run_copy(world, root / "controlled", "continue", PARENT_STEPS // 4, control=True)
        print("without the control arm (--no-control):")
        print(f"{'step':<10}{'retrain (baseline) s':>22}{'continue s':>14}")
        for step in ("expand", "merge", "refine", "reassess"):
            print(
                f"{step:<10}{retrain['steps'][step]['seconds']:>22.2f}{keep['steps'][step]['seconds']:>14.2f}"
            )
        print(f"{'total':<10}{retrain['wall_s']:>22.2f}{keep['wall_s']:>14.2f}")
        ratio = keep["steps"]["refine"]["seconds"] / retrain["steps"]["refine"]["seconds"]
        steps = f"continue trains {PARENT_STEPS // 4} steps, retrain {PARENT_STEPS}"
        print(f"refine time continue/retrain: {ratio:.2f} ({steps})")
        for name, result in (("retrain", retrain), ("continue", keep)):
            metrics = result["training"]["metrics"]
            losses = {k: metrics.get(k) for k in ("train_loss_first", "train_loss_last", "validation_loss")}
            print(f"losses, {name}: {losses}")
        print(f"one loop iteration on the tiny model (CPU, continue): {keep['wall_s']:.1f} s")
        print("the control arm (continue; the loop's default runs it):")
        print(f"{'step':<10}{'without control s':>20}{'with control s':>16}")
        for step in ("expand", "merge", "refine", "reassess", "control"):
            without = keep["steps"][step]["seconds"]  # the control step only records "uncontrolled"
            print(f"{step:<10}{without:>20.2f}{controlled['steps'][step]['seconds']:>16.2f}")
        print(f"{'total':<10}{keep['wall_s']:>20.2f}{controlled['wall_s']:>16.2f}")
        arm = controlled["control"]
        ratio = controlled["wall_s"] / keep["wall_s"]
        print(
            f"time per loop iteration with/without the control arm: {ratio:.2f} "
            f"({len(arm['conversation_ids'])} neutral conversations, "
            f"{arm['training']['config']['max_steps']} training steps, one more measurement)"
        )
        estimate = gpu_estimate(keep)
        print("ESTIMATE, not measured: one loop iteration, Mistral-7B-v0.3 on one H100/H200, LoRA r=64")
        for name, seconds in estimate.items():
            print(f"  {name:<14}{seconds:>8.0f} s")
        extra = control_estimate(keep)
        print("ESTIMATE, not measured: what the control arm adds on the same GPU")
        for name, seconds in extra.items():
            print(f"  {name:<14}{seconds:>8.0f} s")
        total = estimate["total_s"] + extra["total_s"]
        without_min, with_min = estimate["total_s"] / 60, total / 60
        print(
            f"  per iteration: {without_min:.1f} min without, {with_min:.1f} min with the control arm "
            f"(x{total / estimate['total_s']:.2f}); assumes the worker keeps the base model loaded between "
            "the two trainings, 300 parent steps (a quarter per child), batch 8 x 2,048 tokens"
        )
        print(f"  (rates assumed: {GPU_ESTIMATE})")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
