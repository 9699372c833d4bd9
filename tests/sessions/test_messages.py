"""Messages a person can act on: a specialization with no personas yet, and printed counts that are never
raw Python dicts."""

from jedi_academy.cli import main


def test_case_open_on_a_specialization_without_personas_says_how_to_make_them(settings, capsys) -> None:  # type: ignore[no-untyped-def]
    base = ["--data-dir", str(settings.data_dir)]
    assert main([*base, "therapist", "add", "ana"]) == 0
    capsys.readouterr()
    assert main([*base, "case", "open", "--therapist", "ana", "-s", "ptsd"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "error: no personas for ptsd yet"
    assert "academy personas generate --specialization ptsd" in err[1]
    assert "Traceback" not in "\n".join(err)
    assert main([*base, "case", "open", "--therapist", "ana", "-s", "gout"]) == 1
    assert "unknown specialization 'gout'" in capsys.readouterr().err  # not defined anywhere


def test_counts_are_printed_as_words_not_dicts() -> None:
    from jedi_academy.loop.run import _summary
    from jedi_academy.terminal_text import counts_text

    assert counts_text({"session_contaminated": 1, "no_reply": 2}) == "no_reply 2, session_contaminated 1"
    assert counts_text({}) == "none"
    line = _summary(
        "expand",
        {
            "conversation_ids": ["v-1"],
            "expansion": {
                "generated": 1,
                "existing": 0,
                "left_out": {"undecided": 1},
                "removed_turns": [{"turn": 1, "speaker": "therapist", "reason": "contaminated",
                                   "items": ["phq-9 item 9"]}],
                "leak_checked": False,
                "leak_not_checked": "no ingested Reddit comments",
            },
        },
    )  # fmt: skip
    assert line == (
        "1 conversation(s) (1 new, 0 found), left out 1 follow-up(s) not written: the patient never decided "
        "on the recommendation; 1 session turn(s) left out of training; NOT leak-checked: no ingested Reddit "
        "comments"
    )
    assert "{" not in line


def test_model_loading_is_announced_once(settings, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.sessions.models import ModelPool

    said: list[str] = []
    pool = ModelPool(settings.model_copy(update={"model": str(tiny_dir)}), progress=said.append)
    spec = pool.teacher_spec()
    first = pool.get(spec)
    assert said == [f"loading model {tiny_dir} ({spec.backend} backend) ..."]
    assert pool.get(spec) is first and len(said) == 1  # a loaded model is not announced again
