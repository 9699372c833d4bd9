"""``academy personas generate|list|show`` on a real ingest: no output shows where a persona came from."""

import json

from sqlalchemy import select

from jedi_academy.cli import main
from jedi_academy.store import open_database
from jedi_academy.store.models import Persona
from tests.personas.helpers import ingest_tiny_dump

TINY_FLAGS = ["--max-trait-chars", "12", "--max-list-items", "1", "--max-tokens", "1500", "--min-words", "20",
              "--no-grounding", "--first-person", "heuristic"]  # fmt: skip


def test_generate_list_show_hide_provenance(settings, tiny_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = str(settings.data_dir)
    ingest_tiny_dump(main, settings.data_dir, tmp_path, "anxiety", "socialanxiety", authors=3)
    capsys.readouterr()
    root = ["--data-dir", data, "--model", str(tiny_dir)]
    code = main(
        [*root, "personas", "generate", "-s", "anxiety", "--n", "2", "--seed", "4", *TINY_FLAGS, "--json"]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["generated"] == 2 and report["authors"] == 3
    assert report["prompt_version"] == "persona-gen-2" and report["rejected"] == {}
    assert {"gad-7", "phq-9"} <= set(report["instruments_checked"])  # every instrument that may be given
    assert "aq-10" in report["instruments_unchecked"] and sum(report["styles"].values()) == 2

    with open_database(settings).session() as session:
        rows = list(session.scalars(select(Persona)))
    secrets = {r.source_author_hash for r in rows} | {c for r in rows for c in r.source_comment_ids}
    secrets |= {"socialanxiety", "writer0", "writer1", "writer2"}
    outputs = []
    for args in (["list"], ["list", "--json"], ["show", rows[0].id], ["show", rows[0].id[:6], "--json"]):
        assert main([*root, "personas", *args]) == 0
        outputs.append(capsys.readouterr().out)
    for out in outputs:
        assert not [s for s in secrets if s in out], out
    assert all(r.id in outputs[0] for r in rows)
    shown = json.loads(outputs[3])
    assert shown["id"] == rows[0].id and "evidence" not in json.dumps(shown["card"])
    assert outputs[2].startswith(f"Persona: {rows[0].card['name']}")


def test_clear_errors_without_data_or_usable_authors(settings, tiny_dir, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    root = ["--data-dir", str(settings.data_dir), "--model", str(tiny_dir)]
    assert main([*root, "personas", "generate", "-s", "ptsd", "--n", "1"]) == 1
    err = capsys.readouterr().err
    assert "no ingested Reddit data for specialization 'ptsd'" in err and "academy ingest" in err

    ingest_tiny_dump(main, settings.data_dir, tmp_path, "ptsd", "CPTSD", authors=2)
    capsys.readouterr()
    assert main([*root, "personas", "generate", "-s", "ptsd", "--n", "1", "--min-words", "5000"]) == 1
    err = capsys.readouterr().err
    assert "none of the 2 authors has 3+ comments and 5000+ words" in err and "hint:" in err
    assert main([*root, "personas", "show", "p-nope"]) == 1
    assert "persona 'p-nope' does not exist" in capsys.readouterr().err
