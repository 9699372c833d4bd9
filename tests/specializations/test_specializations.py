from __future__ import annotations

import json
from pathlib import Path

import pytest

from jedi_academy.cli import main
from jedi_academy.config import load_settings
from jedi_academy.errors import ConfigError
from jedi_academy.specializations import (
    Specialization,
    SpecializationError,
    get_specialization,
    load_specializations,
    parse_specialization,
    select_specializations,
    sync_specializations,
)
from jedi_academy.store import open_database
from jedi_academy.store.models import Specialization as SpecializationRow

VALID = """\
id: insomnia
display_name: Insomnia
description: Trouble sleeping.
subreddits: [insomnia, r/sleep]
instruments: [phq-9]
persona_guidance: Tired all day.
"""

EXPECTED = {
    "autism": ({"autism", "aspergers"}, ["aq-10"]),
    "narcissism": ({"npd", "narcissism"}, ["npi-16"]),
    "depression": ({"depression"}, ["phq-9"]),
    "anxiety": ({"anxiety", "socialanxiety"}, ["gad-7"]),
    "ptsd": ({"ptsd", "cptsd"}, ["pcl-5"]),
    "adhd": ({"adhd"}, ["asrs-v1.1-a"]),
}


def test_shipped_specializations() -> None:
    specs = load_specializations()
    assert set(specs) == set(EXPECTED)
    for spec_id, (subreddits, instruments) in EXPECTED.items():
        assert specs[spec_id].subreddit_keys == subreddits
        assert list(specs[spec_id].instruments) == instruments
        assert specs[spec_id].persona_guidance and specs[spec_id].source == "package"


def test_every_shipped_instrument_id_is_a_known_one() -> None:
    from jedi_academy.instruments import instrument_ids

    used = {i for spec in load_specializations().values() for i in spec.instruments}
    assert used == {"phq-9", "gad-7", "pcl-5", "aq-10", "npi-16", "asrs-v1.1-a"}
    assert used <= set(instrument_ids())


def test_a_valid_definition_and_the_r_prefix() -> None:
    spec = parse_specialization(VALID, "x.yaml")
    assert isinstance(spec, Specialization)
    assert spec.subreddits == ("insomnia", "sleep")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("instruments: [phq-9]", "instruments: [phq-99]"), "instruments: unknown instrument id(s) phq-99"),
        (
            ("subreddits: [insomnia, r/sleep]", "subreddits: [insomnia, 'bad name']"),
            "is not a subreddit name",
        ),
        (("subreddits: [insomnia, r/sleep]", "subreddits: [sleep, Sleep]"), "listed twice"),
        (("subreddits: [insomnia, r/sleep]", "subreddits: []"), "subreddits:"),
        (("id: insomnia", "id: Insomnia Disorder"), "id:"),
        (
            ("persona_guidance: Tired all day.", "persona_guidanse: Tired all day."),
            "persona_guidanse: unknown field",
        ),
        (("display_name: Insomnia\n", ""), "display_name: Field required"),
        (("description: Trouble sleeping.", "description: [unclosed"), "not valid YAML"),
    ],
)
def test_invalid_definitions_name_the_file_and_field(change: tuple[str, str], message: str) -> None:
    text = VALID.replace(*change)
    assert text != VALID
    with pytest.raises(SpecializationError) as info:
        parse_specialization(text, "my/insomnia.yaml")
    assert info.value.message.startswith("my/insomnia.yaml")
    assert message in info.value.message


def test_not_a_mapping() -> None:
    with pytest.raises(SpecializationError, match="expected a mapping"):
        parse_specialization("- a\n- b\n", "list.yaml")


def test_user_folders_add_and_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "insomnia.yaml").write_text(VALID)
    (folder / "adhd.yml").write_text(
        VALID.replace("insomnia", "adhd", 1).replace("[insomnia, r/sleep]", "[adhdwomen]")
    )
    (folder / "notes.txt").write_text("ignored")
    specs = load_specializations(extra_dirs=[folder])
    assert specs["insomnia"].source == str(folder / "insomnia.yaml")
    assert specs["adhd"].subreddits == ("adhdwomen",)
    assert list(specs) == sorted(specs)

    monkeypatch.setenv("ACADEMY_SPECIALIZATIONS_DIR", str(folder))
    assert "insomnia" in load_specializations()


def test_data_dir_folder_is_read(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    (tmp_path / "data" / "specializations").mkdir(parents=True)
    (tmp_path / "data" / "specializations" / "insomnia.yaml").write_text(VALID)
    assert get_specialization("insomnia", settings).display_name == "Insomnia"


def test_the_same_id_twice_among_user_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.yaml").write_text(VALID)
    with pytest.raises(SpecializationError, match="defined twice"):
        load_specializations(extra_dirs=[tmp_path / "a", tmp_path / "b"])


def test_missing_user_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecializationError, match="does not exist"):
        load_specializations(extra_dirs=[tmp_path / "nope"])


def test_selection() -> None:
    specs = load_specializations()
    assert [s.id for s in select_specializations("all", specs)] == list(specs)
    assert [s.id for s in select_specializations(None, specs)] == list(specs)
    assert [s.id for s in select_specializations("ptsd, adhd,ptsd", specs)] == ["ptsd", "adhd"]
    with pytest.raises(SpecializationError, match="unknown specialization 'ocd'"):
        select_specializations("adhd,ocd", specs)
    with pytest.raises(SpecializationError, match="no specialization selected"):
        select_specializations(" , ", specs)


def test_sync_adds_updates_and_leaves_alone(tmp_path: Path) -> None:
    database = open_database(load_settings(data_dir=tmp_path / "data"))
    first = sync_specializations(database, load_specializations().values())
    assert sorted(first.added) == sorted(EXPECTED)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "adhd.yaml").write_text(VALID.replace("insomnia", "adhd", 1))
    second = sync_specializations(database, load_specializations(extra_dirs=[folder]).values())
    assert second.updated == ["adhd"] and len(second.unchanged) == 5 and not second.added
    with database.session() as session:
        row = session.get(SpecializationRow, "adhd")
        assert row is not None and row.definition["subreddits"] == ["insomnia", "sleep"]


def test_cli_list_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["specializations", "list"]) == 0
    out = capsys.readouterr().out
    assert "ptsd" in out and "r/CPTSD" in out and "pcl-5" in out
    assert main(["specializations", "show", "autism", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["subreddits"] == ["autism", "aspergers"] and shown["source"] == "package"
    assert main(["specializations", "show", "ocd"]) == 1
    assert "error: unknown specialization 'ocd'" in capsys.readouterr().err
    assert main(["--data-dir", str(tmp_path / "d"), "specializations", "sync"]) == 0
    assert "6 added" in capsys.readouterr().out


def test_instrument_ids_come_from_the_library_without_a_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    import jedi_academy.instruments
    from jedi_academy.specializations import known_instruments

    known_instruments.known_instrument_ids.cache_clear()
    monkeypatch.setattr(jedi_academy.instruments, "instrument_ids", lambda: ("phq-9", "new-1"), raising=False)
    assert known_instruments.known_instrument_ids() == {"phq-9", "new-1"}

    def broken() -> tuple[str, ...]:
        raise RuntimeError("library half-written")

    known_instruments.known_instrument_ids.cache_clear()
    monkeypatch.setattr(jedi_academy.instruments, "instrument_ids", broken, raising=False)
    with pytest.raises(RuntimeError, match="library half-written"):  # the failure itself, not a silent list
        known_instruments.known_instrument_ids()

    known_instruments.known_instrument_ids.cache_clear()
    monkeypatch.setattr(jedi_academy.instruments, "instrument_ids", lambda: (), raising=False)
    with pytest.raises(ConfigError, match="the instrument library is empty"):
        known_instruments.known_instrument_ids()
    known_instruments.known_instrument_ids.cache_clear()
