"""Case pages over HTTP: branching from a checkpoint, and self-registration when the server allows it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerThread
from tests.web.conftest import Site, csrf_of, make_site, page_csrf, sign_in


@pytest.fixture(scope="module")
def open_site(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Iterator[Site]:
    app, site = make_site(tmp_path_factory.mktemp("pages"), tiny_dir, tiny_llm, allow_registration=True)
    with ServerThread(app) as server:
        site.url = server.url
        yield site


def test_return_to_a_checkpoint_and_branch(open_site: Site) -> None:
    site = open_site
    ada = sign_in(site.url, site.ada.email)
    token = page_csrf(ada)
    case = f"/cases/{site.ada.case_id}"
    started = ada.post(f"{case}/sessions", data={"csrf_token": token})
    session = started.headers["location"]
    assert ada.post(f"{session}/say", data={"csrf_token": token, "text": "How are you?"}).status_code == 303
    # no branching while a session is open, and only to a checkpoint of this case
    branch = {"csrf_token": token, "checkpoint": "ck-tinybase0001"}
    assert ada.post(f"{case}/branch", data=branch).status_code == 409
    assert 'id="feedback"' not in ada.get(session).text  # no feedback while the session is open
    assert ada.post(f"{session}/end", data={"csrf_token": token}).status_code == 303
    # the teacher coded the ended session: its MITI summary is stored and shown on the session page
    from jedi_academy.feedback import load_feedback

    stored = load_feedback(site.database, session.rsplit("/", 1)[1])
    assert stored is not None and stored.summary.turns == 1
    ended = ada.get(session).text
    assert 'id="feedback"' in ended and "Feedback on technique" in ended
    assert f"{stored.summary.coded_turns} of 1 turns coded" in ended
    assert "reflection to question" in ended and "What these numbers cannot tell" in ended
    # the transcript downloads, with the stored MITI codes of each therapist turn
    assert f'href="{session}/export.jsonl"' in ended
    download = ada.get(f"{session}/export.jsonl")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    import json

    lines = [json.loads(line) for line in download.text.splitlines()]
    assert [line["type"] for line in lines[:2]] == ["session", "turn"]
    assert lines[1]["therapist"] == "How are you?"
    expected = stored.turns[0].codes
    assert lines[1]["miti_codes"] == (list(expected) if expected is not None else None)
    assert ada.get(f"{session}/export.md").text.startswith("# Session")
    assert ada.get(f"{session}/export.pdf").status_code == 404
    # the portfolio page averages the MITI figures per case (one session with feedback: its own figures)
    from jedi_academy.loop.session_feedback import case_feedback

    means = case_feedback(site.database, site.ada.case_id)
    assert means.sessions_with_feedback == 1
    assert means.figures["mi_adherent"] == {"mean": float(stored.summary.mi_adherent), "sessions": 1}
    ratio = stored.summary.reflection_to_question
    assert means.figures["reflection_to_question"]["mean"] == (None if ratio is None else float(ratio))
    portfolio = ada.get("/portfolio").text
    assert 'id="portfolio-feedback"' in portfolio and site.ada.case_id in portfolio
    assert ada.post(f"{case}/branch", data={**branch, "checkpoint": "ck-nope"}).status_code == 404
    assert ada.post(f"{case}/branch", data=branch).status_code == 303
    page = ada.get(case).text
    assert "branch <strong>branch-2</strong>" in page
    second = ada.post(f"{case}/sessions", data={"csrf_token": token}).headers["location"]
    assert "branch branch-2" in ada.get(second).text
    branches = re.search(r'<table class="branches">.*?</table>', ada.get(case).text, re.S)
    assert branches is not None
    rows = re.findall(r"<tr><td>([^<]+)</td>", branches.group(0))
    assert rows == ["main", "branch-2"]


def test_self_registration(open_site: Site) -> None:
    client = httpx.Client(base_url=open_site.url, follow_redirects=False)
    form = client.get("/register")
    assert form.status_code == 200
    data = {"name": "Eve", "email": "eve@example.org", "password": "short", "csrf_token": csrf_of(form.text)}
    refused = client.post("/register", data=data)
    assert refused.status_code == 400 and "at least 10 characters" in refused.text
    data["password"] = "long enough secret"
    made = client.post("/register", data=data)
    assert made.status_code == 200 and "Registration received" in made.text
    assert "Eve" in sign_in(open_site.url, "eve@example.org", "long enough secret").get("/").text
    # the same email again: the same answer (no account enumeration), and no second account
    again = httpx.Client(base_url=open_site.url, follow_redirects=False)
    data["csrf_token"] = csrf_of(again.get("/register").text)
    taken = again.post("/register", data={**data, "password": "a different long secret"})
    def without_token(html: str) -> str:  # each browser has its own CSRF token in the page header
        return re.sub(r'"X-CSRF-Token": "[^"]+"', "", html)

    assert taken.status_code == 200 and without_token(taken.text) == without_token(made.text)
    assert sign_in(open_site.url, "eve@example.org", "long enough secret").get("/").status_code == 200
    # bounded fields
    long_name = {**data, "name": "E" * 5000, "email": "eve2@example.org"}
    assert "at most 200 characters" in again.post("/register", data=long_name).text
    # registrations from one address are rate-limited
    replies = [
        again.post("/register", data={**data, "email": f"r{n}@example.org"}).status_code for n in range(6)
    ]
    assert replies[-1] == 429


def test_registration_is_off_by_default(site: Site) -> None:
    client = httpx.Client(base_url=site.url)
    assert client.get("/register").status_code == 404
    assert "/register" not in client.get("/login").text


def test_an_overlong_message_is_refused_and_stored_nowhere(site: Site) -> None:
    from jedi_academy.limits import MAX_MESSAGE_CHARS
    from jedi_academy.store.models import SessionTurn

    bob = sign_in(site.url, site.bob.email)
    token = page_csrf(bob)
    session = bob.post(f"/cases/{site.bob.case_id}/sessions", data={"csrf_token": token}).headers["location"]
    assert f'maxlength="{MAX_MESSAGE_CHARS}"' in bob.get(session).text  # the form says so before sending
    for headers in ({}, {"HX-Request": "true"}):
        long = {"csrf_token": token, "text": "x" * 20_000}
        refused = bob.post(f"{session}/say", data=long, headers=headers)
        assert refused.status_code == 413 and f"at most {MAX_MESSAGE_CHARS:,}" in refused.text
    with site.database.session() as db:
        assert db.query(SessionTurn).filter_by(session_id=session.rsplit("/", 1)[1]).count() == 0
    assert bob.post(f"{session}/end", data={"csrf_token": token}).status_code == 303


def test_a_reply_waits_its_turn_shows_its_position_and_can_be_cancelled(site: Site) -> None:
    from jedi_academy.store.models import SessionTurn

    queue = site.app.state.academy.model_queue
    bob = sign_in(site.url, site.bob.email)
    token = page_csrf(bob)
    session = bob.post(f"/cases/{site.bob.case_id}/sessions", data={"csrf_token": token}).headers["location"]
    session_id = session.rsplit("/", 1)[1]
    with ExitStack() as held:  # other therapists' patients are answering, in every slot
        for number in range(queue.slots):
            held.enter_context(queue.turn(queue.admit(f"another therapist {number}")))
        words = {"csrf_token": token, "text": "How was the week?"}
        said = bob.post(f"{session}/say", data=words, headers={"HX-Request": "1"})
        assert said.status_code == 200 and "How was the week?" in said.text  # stored before the wait
        with site.database.session() as db:
            assert db.query(SessionTurn).filter_by(session_id=session_id).count() == 1
        events: list[str] = []
        with bob.stream("GET", f"{session}/stream", timeout=60) as stream:
            for line in stream.iter_lines():
                events.append(line)
                if line.startswith("data:") and '"position"' in line:
                    assert line == 'data: {"position": 1}'  # next, once the running call ends
                    assert bob.post(f"{session}/cancel", data={"csrf_token": token}).status_code == 303
                if events[-2:-1] == ["event: done"]:
                    break
    assert "event: waiting" in events
    assert '"withdrawn": "How was the week?"' in events[-1] and "cancelled" in events[-1]
    with site.database.session() as db:  # the withdrawn words are stored nowhere
        assert db.query(SessionTurn).filter_by(session_id=session_id).count() == 0
    assert bob.post(f"{session}/cancel", data={"csrf_token": token}).status_code == 409  # nothing waits now
    assert bob.post(f"{session}/end", data={"csrf_token": token}).status_code == 303


def test_the_app_explains_itself(site: Site) -> None:
    """HEAD where GET works; errors as pages in the layout (JSON for JSON clients, text for HTMX); sign-in
    returns to the page asked for (never to another site); the tiny model's words carry a notice."""
    anonymous = httpx.Client(base_url=site.url, follow_redirects=False)
    for path in ("/login", "/static/app.js"):
        head, get = anonymous.head(path), anonymous.get(path)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == get.headers["content-length"]
    case = f"/cases/{site.ada.case_id}"
    asked = anonymous.get(case)
    assert asked.status_code == 303
    assert asked.headers["location"] == f"/login?next=%2Fcases%2F{site.ada.case_id}"
    form = anonymous.get(asked.headers["location"]).text
    assert f'name="next" value="{case}"' in form
    signed = anonymous.post(
        "/login",
        data={"email": site.ada.email, "password": "correct horse battery", "csrf_token": csrf_of(form),
              "next": case},
    )  # fmt: skip
    assert signed.status_code == 303 and signed.headers["location"] == case
    elsewhere = sign_in(site.url, site.ada.email)
    assert elsewhere.get("/login?next=//evil.example/").headers["location"] == "/"  # no open redirect
    missing = elsewhere.get("/cases/c-nope")
    assert missing.status_code == 404 and "<!doctype html>" in missing.text
    assert "No such case." in missing.text
    as_json = elsewhere.get("/cases/c-nope", headers={"Accept": "application/json"})
    assert as_json.status_code == 404 and as_json.json() == {"error": "no such case"}
    as_htmx = elsewhere.get("/cases/c-nope", headers={"HX-Request": "true"})
    assert as_htmx.status_code == 404 and as_htmx.text == "no such case"
    token = page_csrf(elsewhere)
    session = elsewhere.post(f"{case}/sessions", data={"csrf_token": token}).headers["location"]
    page = elsewhere.get(session).text
    assert "This patient is the tiny test model" in page and 'hx-confirm="End this session?' in page
    blank = elsewhere.post(
        f"{session}/say", data={"csrf_token": token, "text": "   "}, headers={"HX-Request": "1"}
    )
    assert blank.status_code == 400 and blank.text == "say something first"
    assert elsewhere.post(f"{session}/end", data={"csrf_token": token}).status_code == 303


def test_the_load_benchmark_drives_the_app_with_two_therapists(site: Site) -> None:
    """``benchmarks/web_load.py`` over HTTP for a few seconds: every figure is there and nobody waited more
    than one turn behind another therapist (no timing is asserted)."""
    from benchmarks.web_load import KEYS, Account, drive

    from tests.web.conftest import PASSWORD

    accounts = [Account(t.email, PASSWORD, t.case_id) for t in (site.ada, site.bob)]
    figures = drive(site.url, accounts, seconds=2, seed=1, end=True)
    assert set(KEYS) <= set(figures) and figures["requests"] >= 2
    assert figures["starved"] == 0 and figures["refused"] == 0


def test_starved_counts_a_request_overtaken_twice_by_one_therapist() -> None:
    from benchmarks.web_load import Request, starved

    fair = [Request(0, sent=0.0, first=1.0), Request(1, sent=0.5, first=1.1), Request(1, sent=1.2, first=1.5)]
    assert starved(fair) == 0  # therapist 1 was not served before therapist 0's earlier request
    once = [Request(0, sent=0.0, first=2.0), Request(1, sent=0.5, first=1.0)]
    assert starved(once) == 0  # one turn behind is allowed
    twice = [*once, Request(1, sent=1.1, first=1.5)]
    assert starved(twice) == 1  # therapist 1 was served twice while therapist 0 waited


def test_opening_a_case_fixes_its_protocol_with_its_baseline(open_site: Site) -> None:
    """The web app opens a case through the service of `academy case open`: the protocol is stored with the
    case with its baseline run (found stored here: the measurement itself is tested with the loop)."""
    from jedi_academy.assessment.protocol import Protocol
    from jedi_academy.loop.trajectory import case_trajectory
    from jedi_academy.store.models import AssessmentRun
    from tests.factories import add_protocol_runs

    planted = add_protocol_runs(open_site.database, "ck-tinybase0001", ["p-sam"])
    bob = sign_in(open_site.url, open_site.bob.email)
    opened = bob.post("/cases", data={"csrf_token": page_csrf(bob), "specialization": "depression"})
    assert opened.status_code == 303
    case_id = opened.headers["location"].rsplit("/", 1)[1]
    view = case_trajectory(open_site.database, case_id)
    protocol = Protocol.from_dict(view["protocol"])
    assert protocol.persona_id == view["persona_id"] == "p-sam"  # the persona Bob worked least
    with open_site.database.session() as session:
        assert view["baseline_runs"] == {"phq-9": planted["p-sam"]}
        baseline = session.get(AssessmentRun, planted["p-sam"])
        assert baseline is not None and protocol.follows(baseline)
        assert baseline.checkpoint_id == view["start_checkpoint_id"]
    page = bob.get(f"/cases/{case_id}").text
    assert 'id="protocol"' in page and "Measured by the case's protocol" in page
