import json

import pytest
from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
from mistral_common.protocol.instruct.request import ChatCompletionRequest
from mistral_common.protocol.instruct.validator import ValidationMode
from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
from sqlalchemy import select

from jedi_academy.cli import main
from jedi_academy.datasets.versions import build_dataset
from jedi_academy.errors import AcademyError
from jedi_academy.store import ArtifactStore, open_database
from jedi_academy.store.models import DatasetMember
from tests.factories import add_conversation, add_persona, make_card_v1

TURNS = [
    ("What brings you here?", "I feel flat all the time."),
    ("How is sleep?", "I wake at four and lie there."),
]


@pytest.fixture
def populated(settings):  # type: ignore[no-untyped-def]
    database = open_database(settings)
    for p in range(10):
        add_persona(database, f"p{p}", name=f"Person{p}")
        for c in range(2):
            add_conversation(database, f"conv-{p}-{c}", f"p{p}", TURNS)
    add_conversation(
        database, "dirty", "p0", [("Q", "Little interest or pleasure in doing things")], contaminated=True
    )
    return settings, database, ArtifactStore(settings.data_dir)


def finetuning_validates(path) -> int:  # type: ignore[no-untyped-def]
    tokenizer = MistralTokenizer.from_file(
        MistralTokenizer.v3().instruct_tokenizer.tokenizer.file_path, mode=ValidationMode.finetuning
    )
    classes = {"system": SystemMessage, "user": UserMessage, "assistant": AssistantMessage}
    count = 0
    for line in path.read_text().splitlines():
        messages = json.loads(line)["messages"]
        assert sum(m["role"] == "system" for m in messages) == 1 and messages[-1]["role"] == "assistant"
        request = ChatCompletionRequest(messages=[classes[m["role"]](content=m["content"]) for m in messages])
        tokenizer.encode_chat_completion(request)
        count += 1
    return count


def test_versions_are_content_addressed_and_persona_disjoint(populated) -> None:  # type: ignore[no-untyped-def]
    _, database, store = populated
    version, created = build_dataset(database, store, ["depression"], validation_fraction=0.2)
    again, created_again = build_dataset(database, store, ["depression"], validation_fraction=0.2)
    assert created and not created_again and again.id == version.id
    other_split, _ = build_dataset(database, store, ["depression"], validation_fraction=0.2, seed=9)
    assert other_split.id != version.id

    with database.session() as session:
        members = session.scalars(select(DatasetMember).where(DatasetMember.dataset_id == version.id)).all()
    assert "dirty" not in {m.conversation_id for m in members} and len(members) == 20
    persona_of = {m.conversation_id: m.conversation_id.split("-")[1] for m in members}
    train = {persona_of[m.conversation_id] for m in members if m.split == "train"}
    validation = {persona_of[m.conversation_id] for m in members if m.split == "validation"}
    assert len(validation) == 2 and not train & validation
    assert version.stats["splits"]["validation"]["personas"] == 2
    assert version.stats["splits"]["train"]["max_tokens"] > 0


def test_exports_pass_mistral_common_finetuning_validation(populated, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, database, store = populated
    version, _ = build_dataset(database, store, ["depression"], validation_fraction=0.2)
    out = tmp_path / "export" / "depression.jsonl"
    assert (
        main(["--data-dir", str(settings.data_dir), "dataset", "export", version.id[:10], "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "train" in printed and "tokens" in printed
    assert finetuning_validates(out) == 16
    assert finetuning_validates(out.with_name("depression.validation.jsonl")) == 4
    record = json.loads(out.read_text().splitlines()[0])
    assert record["messages"][0]["content"].startswith("You are Person")
    assert "c1" not in record["messages"][0]["content"]  # evidence ids stay in provenance

    hf = tmp_path / "hf"
    assert (
        main(
            [
                "--data-dir",
                str(settings.data_dir),
                "dataset",
                "export",
                version.id,
                "--format",
                "hf",
                "--out",
                str(hf),
            ]
        )
        == 0
    )
    import pyarrow.parquet as pq

    table = pq.read_table(hf / "data" / "train-00000-of-00001.parquet")
    assert table.num_rows == 16 and table.column_names == ["messages"]


def test_parent_versions_merge_and_empty_selection_is_refused(populated) -> None:  # type: ignore[no-untyped-def]
    _, database, store = populated
    first, _ = build_dataset(database, store, ["depression"])
    add_persona(database, "new", specialization="anxiety")
    add_conversation(database, "anx-1", "new", TURNS, specialization="anxiety")
    merged, _ = build_dataset(database, store, ["anxiety"], parent=first.id)
    assert merged.parent_id == first.id
    assert merged.specializations == ["anxiety", "depression"] and merged.stats["conversations"] == 21
    with pytest.raises(AcademyError, match="no usable conversations"):
        build_dataset(database, store, ["ptsd"])


def test_finetune_reads_a_built_version(populated, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.finetune.config import TrainingConfig
    from jedi_academy.finetune.service import FinetuneRequest, finetune

    settings, database, store = populated
    version, _ = build_dataset(database, store, ["depression"], validation_fraction=0.2)
    settings = settings.model_copy(update={"model": str(tiny_dir)})
    config = TrainingConfig(lora_rank=4, lora_alpha=8, max_steps=2, batch_size=4, learning_rate=1e-3)
    checkpoint = finetune(
        settings, FinetuneRequest(dataset=version.id[:8], show_progress=False), config, echo=lambda _: None
    )
    assert checkpoint.dataset_id == version.id and checkpoint.specialization_id == "depression"
    assert checkpoint.metrics["train_conversations"] == 16
    # card-visible training: one example per trained assistant turn
    assert checkpoint.metrics["train_examples"] == 16 * len(TURNS)
    assert checkpoint.metrics["validation_examples"] == 4 * len(TURNS)


def test_instrument_wording_in_a_stored_answer_blocks_the_build_whatever_its_flag(populated) -> None:  # type: ignore[no-untyped-def]
    _, database, store = populated
    leaked = [("How are you?", "Honestly, little interest or pleasure in doing things.")]
    add_conversation(database, "sneaky", "p1", leaked, contaminated=False)  # stored as clean
    with pytest.raises(AcademyError, match=r"conversation sneaky, turn 0 answer: phq-9 item 1") as caught:
        build_dataset(database, store, ["depression"])
    assert "--drop-contaminated" in (caught.value.hint or "")
    version, _ = build_dataset(database, store, ["depression"], drop_contaminated=True)
    assert version.stats["excluded"] == {"flagged_contaminated": 1, "instrument_wording": 1}
    assert version.stats["conversations"] == 20
    # an instrument the specialization does not use is guarded as well (GAD-7 in a depression dataset)
    add_conversation(database, "gad", "p2", [("Q?", "Not being able to stop or control worrying, I'd say.")])
    with pytest.raises(AcademyError, match="gad-7"):
        build_dataset(database, store, ["depression"])


def test_a_natural_disclosure_is_kept_and_counted_in_the_stats(populated) -> None:  # type: ignore[no-untyped-def]
    _, database, store = populated
    add_conversation(
        database, "honest", "p3", [("How are nights?", "Sometimes I think I would be better off dead.")]
    )
    version, _ = build_dataset(database, store, ["depression"])
    assert version.stats["conversations"] == 21
    assert version.stats["flags"] == {"answers_flagged": 1, "by_item": {"phq-9 item 9": 1}}
    diversity = version.stats["diversity"]
    assert diversity["near_duplicate_answers"] == round(40 / 41, 4)  # the 20 identical conversations
    assert diversity["near_duplicate_cards"] == 1.0 and 0 < diversity["distinct_1"] < 1


def test_the_split_is_by_source_author(settings) -> None:  # type: ignore[no-untyped-def]
    database = open_database(settings)
    store = ArtifactStore(settings.data_dir)
    for author in range(4):  # each author has two personas (two specializations)
        for specialization in ("depression", "anxiety"):
            persona = f"p{author}{specialization[0]}"
            add_persona(database, persona, specialization, name=f"P{author}", author=f"author{author}")
            add_conversation(database, f"c-{persona}", persona, TURNS, specialization=specialization)
    version, _ = build_dataset(database, store, ["depression", "anxiety"], validation_fraction=0.25)
    with database.session() as session:
        members = session.scalars(select(DatasetMember).where(DatasetMember.dataset_id == version.id)).all()
    split_of_author: dict[str, set[str]] = {}
    for member in members:
        author = member.conversation_id[3]
        split_of_author.setdefault(author, set()).add(member.split)
    assert all(len(splits) == 1 for splits in split_of_author.values())
    assert version.stats["authors"] == {"train": 3, "validation": 1}
    assert version.stats["splits"]["validation"]["personas"] == 2  # both personas of the held-out author


def test_a_template_change_yields_a_new_version_with_a_new_export(populated, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import jedi_academy.datasets.versions as versions

    _, database, store = populated
    first, _ = build_dataset(database, store, ["depression"])
    original = versions.conversation_record

    def changed_template(card, turns):  # type: ignore[no-untyped-def]
        record = original(card, turns)
        record["messages"][0]["content"] += "\nYou are in a video session."
        return record

    monkeypatch.setattr(versions, "conversation_record", changed_template)
    second, created = build_dataset(database, store, ["depression"])
    assert created and second.id != first.id and second.export_sha256 != first.export_sha256
    monkeypatch.setattr(versions, "conversation_record", original)
    assert build_dataset(database, store, ["depression"])[0].id == first.id


def test_dataset_show_prints_diversity_mix_flags_and_exclusions(populated, capsys) -> None:  # type: ignore[no-untyped-def]
    settings, database, store = populated
    add_persona(database, "old", name="Olde", card=make_card_v1("Olde"))  # a v1 card still renders
    add_conversation(database, "old-1", "old", TURNS)
    version, _ = build_dataset(database, store, ["depression"])
    root = ["--data-dir", str(settings.data_dir), "dataset"]
    assert main([*root, "show", version.id[:12]]) == 0
    out = capsys.readouterr().out
    for expected in (
        "distinct-1",
        "near-duplicate answers",
        "styles: plain 10, unstyled (card v1) 1",
        "techniques:",
        "flagged disclosures",
        "excluded at build: flagged_contaminated 1",
    ):
        assert expected in out, out
    assert main([*root, "build", "--specialization", "depression", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["id"] == version.id and built["created"] is False
    assert main([*root, "show", version.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["stats"]["split_by"] == "source author" and shown["stats"]["guard"]["instruments"]["phq-9"]
