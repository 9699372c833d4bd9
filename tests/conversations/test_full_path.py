"""The whole path on the tiny model: ingest -> personas -> conversations -> dataset version -> Mistral JSONL
that mistral-common's fine-tuning validation accepts; list/show never reveal where a persona came from."""

import json

from sqlalchemy import select

from jedi_academy.cli import main
from jedi_academy.datasets.versions import build_dataset
from jedi_academy.store import ArtifactStore, open_database
from jedi_academy.store.models import Conversation, Persona
from tests.datasets.test_versions import finetuning_validates
from tests.personas.helpers import ingest_tiny_dump

PERSONA_FLAGS = [
    "--max-trait-chars",
    "12",
    "--max-list-items",
    "1",
    "--max-tokens",
    "1500",
    "--min-words",
    "20",
    "--no-grounding",
    "--first-person",
    "heuristic",
]


def test_ingest_to_validated_finetuning_jsonl(settings, tiny_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    ingest_tiny_dump(main, settings.data_dir, tmp_path, "narcissism", "NPD", authors=3)
    root = ["--data-dir", str(settings.data_dir), "--model", str(tiny_dir)]
    assert main([*root, "personas", "generate", "-s", "narcissism", "--n", "3", *PERSONA_FLAGS]) == 0
    capsys.readouterr()

    conversation_flags = [
        "--per-persona",
        "2",
        "--turns",
        "3",
        "--max-tokens",
        "12",
        "--keep-truncated",
        "--therapist-max-tokens",
        "12",
        "--no-self-cure-judge",
        "--json",
    ]
    assert main([*root, "conversations", "generate", "-s", "narcissism", *conversation_flags]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["generated"] == 6 and report["turns"] == 18 and "npi-16" in report["instruments_unchecked"]

    database = open_database(settings)
    with database.session() as session:
        personas = list(session.scalars(select(Persona)))
        stored = list(session.scalars(select(Conversation)))
        assert {c.persona_id for c in stored} == {p.id for p in personas}
    secrets = {p.source_author_hash for p in personas} | {c for p in personas for c in p.source_comment_ids}
    secrets.add("NPD")
    outputs = []
    for args in (["list"], ["list", "--json"], ["show", stored[0].id[:8]], ["show", stored[0].id, "--json"]):
        assert main([*root, "conversations", *args]) == 0
        outputs.append(capsys.readouterr().out)
    for out in outputs:
        assert not [s for s in secrets if s in out], out
    shown = json.loads(outputs[3])
    assert len(shown["turns"]) == 3 and shown["persona_id"] == stored[0].persona_id
    assert "\nTherapist [" in outputs[2]  # each therapist turn shows its technique tag

    version, created = build_dataset(
        database, ArtifactStore(settings.data_dir), ["narcissism"], validation_fraction=0.34
    )
    assert created and version.stats["conversations"] == 6
    out = tmp_path / "export" / "narcissism.jsonl"
    assert main([*root, "dataset", "export", version.id[:12], "--out", str(out)]) == 0
    train, validation = (
        finetuning_validates(out),
        finetuning_validates(out.with_name("narcissism.validation.jsonl")),
    )
    assert (train, validation) == (4, 2)
    exported = out.read_text(encoding="utf-8")
    assert not [s for s in secrets if s in exported]
