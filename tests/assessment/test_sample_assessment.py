"""Sample mode against a loopback server speaking Mistral's chat wire format (no log-probs there)."""

import json
import re

import pytest
from pydantic import SecretStr

from jedi_academy.assessment.attention import attention_set
from jedi_academy.assessment.runner import SampleOptions, assess, model_target
from jedi_academy.config import load_settings
from jedi_academy.errors import LogprobsUnavailableError
from jedi_academy.instruments import load_instrument
from jedi_academy.store import open_database
from tests.http_helpers import JSONHandler, LoopbackServer

ITEM_9 = load_instrument("phq-9").item("9").text
BOGUS = [text for _honest, entries in attention_set().families.values() for _id, text in entries]


class PatientAPI(LoopbackServer):
    """Answers like a patient would through the Mistral API: usually a JSON answer, sometimes a bare number,
    sometimes a refusal; it always refuses PHQ-9 item 9, and it reads the attention questions."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        outer = self

        class Handler(JSONHandler):
            def do_POST(self) -> None:
                payload = self.json_body()
                outer.requests.append(payload)
                prompt = payload["messages"][-1]["content"]
                options = re.findall(r"^(\d+)\. ", prompt, flags=re.MULTILINE)
                seed = payload["random_seed"]
                if any(text in prompt for text in BOGUS):
                    honest = re.search(r"^(\d+)\. Not at all$", prompt, flags=re.MULTILINE)
                    content = json.dumps({"answer": int(honest.group(1))})
                elif ITEM_9 in prompt or seed % 5 == 0:
                    content = "I'd rather not answer that."
                elif seed % 5 == 1:
                    content = options[-1]  # a bare number, not JSON
                else:
                    content = json.dumps({"answer": int(options[seed % len(options)])})
                message = {"role": "assistant", "content": content}
                self.reply(200, {
                    "id": "x", "object": "chat.completion", "model": payload["model"], "created": 1,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                })  # fmt: skip

        super().__init__(Handler)


def test_sample_mode_records_refusals_as_missing_and_still_scores(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with PatientAPI() as api:
        settings = load_settings(
            data_dir=tmp_path / "d", backend="mistral", model="mistral-small-latest", base_url=api.url
        ).model_copy(update={"api_key": SecretStr("k")})
        database = open_database(settings)
        target = model_target(settings, settings.model)
        run = assess(
            settings, database, target, "phq-9", mode="sample", sample_options=SampleOptions(samples=10)
        )
        items = {i.item_id: i for i in run.items}
        assert items["9"].n_missing == 40 and items["9"].distribution == {}  # refused: missing, never 0
        assert run.result["missing_items"] == ["9"]
        for item_id in ("1", "2", "3"):
            assert items[item_id].n_missing == 8  # seeds ending in 0 or 5 refuse: 2 of 10 per shift, 4 shifts
            assert sum(items[item_id].distribution.values()) == pytest.approx(1.0)
        assert (
            run.total is not None and run.ci_low <= run.total <= run.ci_high
        )  # PHQ-9 prorates one missing item
        assert "9" in run.result["modal"]["safety_flags"]  # an unanswered item 9 is not a safe answer
        assert run.mode == "sample" and run.backend == "mistral" and run.result["model_calls"] == 560
        # the unconstrained probe is where refusals show: every probe of item 9 is one
        probes = items["9"].detail["probes"]
        assert len(probes) == 4 and all(p["answer"] is None and "rather not" in p["reply"] for p in probes)
        validity = run.result["validity"]
        assert validity["valid"] is False and [r["code"] for r in validity["reasons"]] == ["missing"]
        assert validity["missing_share"] == pytest.approx((40 + 9 * 8) / 400)  # constrained replies alone
        assert validity["probe_missing_share"] == pytest.approx(validity["probe_missing"] / 40)
        assert run.result["attention"]["model_calls"] == 120  # 3 attention items, 4 shifts, 10 replies
        assert run.result["standard_error_basis"] == "bootstrap over option orders and replies"
        assert 0 < run.result["standard_error"] < run.total - run.ci_low  # precision, not one sheet's spread
        schema = api.requests[0]["response_format"]["json_schema"]["schema"]
        assert schema["properties"]["answer"]["enum"] == [1, 2, 3, 4]
        assert (
            sum(1 for r in api.requests if "response_format" not in r or r["response_format"] is None) == 40
        )
        assert all("seed" not in r and "logprobs" not in r for r in api.requests)

        again = assess(
            settings, database, target, "phq-9", mode="sample", sample_options=SampleOptions(samples=10)
        )
        assert (again.total, again.ci_low, again.ci_high) == (run.total, run.ci_low, run.ci_high)
        more = assess(
            settings, database, target, "phq-9", mode="sample", sample_options=SampleOptions(samples=25)
        )
        assert more.result["standard_error"] < run.result["standard_error"]  # more replies, less uncertainty

        with pytest.raises(LogprobsUnavailableError):
            assess(settings, database, target, "phq-9", mode="logprob")


def test_sample_mode_judges_the_free_replies_on_their_own(tmp_path, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    """A model that says "Hello" to anything: constrained decoding forces it to an answer every time, but its
    free replies never contain one. Pooled, the 40 probes would be 40 / 560 missing; alone they are 100%."""
    from jedi_academy.assessment.runner import Target
    from tests.assessment.planted import off_label_llm

    settings = load_settings(data_dir=tmp_path / "data", model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    target = Target("off-label", "transformers", "planted", None, None, off_label_llm(tiny_dir))
    options = SampleOptions(samples=2)
    run = assess(settings, database, target, "phq-9", mode="sample", sample_options=options)
    validity = run.result["validity"]
    assert validity["missing_share"] == 0  # every constrained reply is an answer
    assert validity["probe_replies"] == 40 and validity["probe_missing_share"] == 1.0
    assert validity["valid"] is False
    missing = [reason for reason in validity["reasons"] if reason["code"] == "missing"]
    assert len(missing) == 1 and "100% of the free (unconstrained probe) replies" in missing[0]["detail"]
    assert all(probe["reply"].startswith("Hello") for item in run.items for probe in item.detail["probes"])


def test_too_many_missing_answers_make_the_total_invalid(tmp_path, tiny_dir) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.assessment.administer import ItemOutcome
    from jedi_academy.assessment.summary import summarise

    instrument = load_instrument("phq-9")
    outcomes = [
        ItemOutcome(
            item.id, item.position, {} if item.id in {"1", "2"} else {1: 1.0}, {}, None, None, None, None
        )
        for item in instrument.items
    ]
    summary = summarise(instrument, outcomes, seed=0)
    assert summary["total"] is None and summary["ci_low"] is None
    assert summary["missing_items"] == ["1", "2"]


def test_logprob_mode_through_the_openai_backend_matches_local(tiny_llm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from jedi_academy.llm.server import create_app
    from tests.conftest import ServerThread

    local_settings = load_settings(data_dir=tmp_path / "a", model=str(tiny_llm.model_dir))
    database = open_database(local_settings)
    from jedi_academy.assessment.runner import Target

    local = assess(
        local_settings, database, Target("local", "transformers", "tiny", None, None, tiny_llm), "gad-7"
    )
    with ServerThread(create_app(tiny_llm, "tiny")) as server:
        remote_settings = load_settings(
            data_dir=tmp_path / "a", backend="openai", base_url=server.url, model="tiny"
        )
        remote = assess(remote_settings, database, model_target(remote_settings, "tiny"), "gad-7")
    assert remote.total == pytest.approx(local.total, abs=1e-3)
    assert remote.backend == "openai"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [('{"answer": 2}', 20), ("2", 20), ("2. Several days", 20), ('{"answer": "3"}', 30), ("3", 30),
     ("I won't answer.", None), ('{"answer": 7}', None), ("", None), ("true", None), ('{"other": 1}', None),
     ("2 or 3", None), ("Somewhere between 1 and 2.", None), ("Option 2", 20), ("2.5", None), ("12", None)],
)  # fmt: skip
def test_answers_are_parsed_or_missing(reply: str, expected: int | None) -> None:
    from jedi_academy.assessment.administer import parse_answer

    assert parse_answer(reply, {"1": 10, "2": 20, "3": 30}) == expected
