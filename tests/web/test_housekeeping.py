"""Housekeeping (issue 29 point 5) over HTTP and the CLI: archived sessions and cases leave the lists and
pages and stay in the ledger; a disabled therapist cannot sign in or start a session."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerThread
from tests.web.conftest import PASSWORD, Site, csrf_of, make_site, page_csrf, sign_in


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Iterator[Site]:
    app, site = make_site(tmp_path_factory.mktemp("housekeeping"), tiny_dir, tiny_llm)
    with ServerThread(app) as server:
        site.url = server.url
        yield site


def test_archiving_and_disabling(house: Site, capsys: pytest.CaptureFixture[str]) -> None:
    from jedi_academy.cli import main
    from jedi_academy.errors import AcademyError
    from jedi_academy.sessions import open_case
    from jedi_academy.sessions.records import create_session

    cli = ["--data-dir", str(house.settings.data_dir)]
    bob = sign_in(house.url, house.bob.email)
    token = page_csrf(bob)
    case = f"/cases/{house.bob.case_id}"
    session = bob.post(f"{case}/sessions", data={"csrf_token": token}).headers["location"]
    assert bob.post(f"{session}/say", data={"csrf_token": token, "text": "Hello."}).status_code == 303
    assert bob.post(f"{session}/archive", data={"csrf_token": token}).status_code == 409  # not ended
    assert bob.post(f"{session}/end", data={"csrf_token": token}).status_code == 303
    session_id = session.rsplit("/", 1)[1]
    assert 'id="archive-session"' in bob.get(session).text and session_id in bob.get(case).text

    archived = bob.post(f"{session}/archive", data={"csrf_token": token})
    assert archived.status_code == 303 and archived.headers["location"] == case
    assert session_id not in bob.get(case).text and bob.get(session).status_code == 404
    assert main([*cli, "session", "list", "--case", house.bob.case_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*cli, "session", "list", "--case", house.bob.case_id, "--archived", "--json"]) == 0
    assert [s["archived"] for s in json.loads(capsys.readouterr().out)] == [True]

    assert bob.post(f"{case}/archive", data={"csrf_token": token}).headers["location"] == "/"
    assert house.bob.case_id not in bob.get("/").text and bob.get(case).status_code == 404
    assert main([*cli, "case", "list", "--therapist", house.bob.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main([*cli, "case", "archive", house.bob.case_id, "--undo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["archived"] is False
    assert bob.get(case).status_code == 200
    assert main([*cli, "ledger", "verify"]) == 0  # archiving edits no sealed record
    capsys.readouterr()

    # "Close case": the service of `academy case close`, with the page saying so afterwards
    ada = sign_in(house.url, house.ada.email)
    ada_case = f"/cases/{house.ada.case_id}"
    page = ada.get(ada_case).text
    assert 'id="close-case"' in page and "hx-confirm=" in page
    assert bob.post(f"{ada_case}/close", data={"csrf_token": token}).status_code == 404  # not Bob's
    closed = ada.post(f"{ada_case}/close", data={"csrf_token": csrf_of(page)})
    assert closed.status_code == 303 and closed.headers["location"] == ada_case
    page = ada.get(ada_case).text
    assert 'id="closed"' in page and 'id="close-case"' not in page and 'id="start-session"' not in page
    assert ada.post(f"{ada_case}/close", data={"csrf_token": csrf_of(page)}).status_code == 409
    assert main([*cli, "case", "show", house.ada.case_id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "closed"

    # a disabled therapist: signed out at once, no sign-in, no new case, no session
    second = open_case(
        house.database, house.ada.id, "depression", persona="p-sam", checkpoint="ck-tinybase0001"
    )
    assert ada.get("/").status_code == 200
    assert main([*cli, "therapist", "disable", house.ada.name, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["disabled"] is True and shown["signed_out"] == 1
    assert ada.get("/").status_code == 303  # back to the sign-in page
    form = ada.get("/login")
    refused = ada.post(
        "/login", data={"email": house.ada.email, "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert refused.status_code == 401
    with pytest.raises(AcademyError, match="is disabled"):
        open_case(house.database, house.ada.id, "depression", persona="p-sam", checkpoint="ck-tinybase0001")
    with pytest.raises(AcademyError, match="is disabled"):
        create_session(
            house.database, second.id, seed=1, mode="interactive", params={}, patient={}, teacher={}
        )
    assert main([*cli, "therapist", "list"]) == 0
    assert f"{house.ada.name}  (disabled)" in capsys.readouterr().out


def test_a_therapist_disables_their_own_account(house: Site) -> None:
    """The account page's "Disable my account" (with the current password) does what `academy therapist
    disable` does: every browser signed out, no sign-in afterwards, nothing deleted."""
    from jedi_academy.sessions import add_therapist
    from jedi_academy.sessions.records import therapist_json
    from jedi_academy.store.models import Therapist
    from jedi_academy.web import accounts

    therapist = add_therapist(house.database, "Cara Self")
    invite = accounts.invite(house.database, therapist.id, "cara@example.org")
    accounts.accept_invite(house.database, invite, PASSWORD)
    cara, elsewhere = sign_in(house.url, "cara@example.org"), sign_in(house.url, "cara@example.org")
    page = cara.get("/account").text
    assert 'id="disable-account"' in page and "hx-confirm=" in page
    wrong = cara.post("/account/disable", data={"csrf_token": csrf_of(page), "current": "not the password"})
    assert wrong.status_code == 400 and "the current password is wrong" in wrong.text
    assert cara.get("/").status_code == 200  # a wrong password changes nothing

    done = cara.post("/account/disable", data={"csrf_token": csrf_of(page), "current": PASSWORD})
    assert done.status_code == 200 and "Account disabled" in done.text
    assert cara.get("/").status_code == 303 and elsewhere.get("/").status_code == 303  # signed out everywhere
    form = cara.get("/login")
    again = cara.post(
        "/login", data={"email": "cara@example.org", "password": PASSWORD, "csrf_token": csrf_of(form.text)}
    )
    assert again.status_code == 401
    with house.database.session() as session:
        row = session.get(Therapist, therapist.id)
        assert row is not None and therapist_json(row).disabled is True
