"""Case pages over HTTP: branching from a checkpoint, and self-registration when the server allows it."""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    assert means["sessions_with_feedback"] == 1
    assert means["figures"]["mi_adherent"] == {"mean": float(stored.summary.mi_adherent), "sessions": 1}
    ratio = stored.summary.reflection_to_question
    assert means["figures"]["reflection_to_question"]["mean"] == (None if ratio is None else float(ratio))
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
    assert client.post("/register", data=data).status_code == 303
    assert "Eve" in client.get("/").text
    again = httpx.Client(base_url=open_site.url, follow_redirects=False)
    data["csrf_token"] = csrf_of(again.get("/register").text)
    assert again.post("/register", data=data).status_code == 400  # the email is taken


def test_registration_is_off_by_default(site: Site) -> None:
    client = httpx.Client(base_url=site.url)
    assert client.get("/register").status_code == 404
    assert "/register" not in client.get("/login").text
