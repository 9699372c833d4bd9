import json
from pathlib import Path

import pytest

ANSWERS = [
    "Nearly every day. I can't enjoy anything anymore.",
    "Most days I feel hopeless and tired.",
    "I sleep badly and wake up at four.",
]


def conversation(index: int) -> dict:
    return {
        "messages": [
            {"role": "system", "content": f"You are patient number {index}, in therapy for low mood."},
            {"role": "user", "content": "How have you been feeling lately?"},
            {"role": "assistant", "content": ANSWERS[index % len(ANSWERS)]},
            {"role": "user", "content": "And your sleep?"},
            {"role": "assistant", "content": ANSWERS[(index + 2) % len(ANSWERS)]},
        ]
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture
def dataset_files(tmp_path: Path) -> tuple[Path, Path]:
    train = write_jsonl(tmp_path / "train.jsonl", [conversation(i) for i in range(24)])
    validation = write_jsonl(tmp_path / "validation.jsonl", [conversation(i) for i in range(100, 104)])
    return train, validation


@pytest.fixture
def tiny_settings(settings, tiny_dir):  # type: ignore[no-untyped-def]
    """Settings whose model is the session's tiny model folder (no rebuild per test)."""
    return settings.model_copy(update={"model": str(tiny_dir), "device": "cpu"})
