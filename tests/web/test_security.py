"""The web app's security over real HTTP: ownership (IDOR), CSRF, escaping, session fixation, the login rate
limit, headers, logout and password change, and logs without secrets."""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from jedi_academy.store.models import TherapySession
from tests.web.conftest import PASSWORD, Site, csrf_of, page_csrf, sign_in


@pytest.fixture(scope="module")
def bob_session(site: Site) -> str:
    """An active session of Bob's with one turn, made through the app (as Bob)."""
    bob = sign_in(site.url, site.bob.email)
    token = page_csrf(bob)
    reply = bob.post(f"/cases/{site.bob.case_id}/sessions", data={"csrf_token": token})
    assert reply.status_code == 303
    session_id = reply.headers["location"].rsplit("/", 1)[1]
    said = bob.post(
        f"/sessions/{session_id}/say", data={"csrf_token": token, "text": "<script>alert(1)</script>"}
    )
    assert said.status_code == 303
    return session_id


def id_routes(case_id: str, session_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/cases/{case_id}"),
        ("POST", f"/cases/{case_id}/sessions"),
        ("POST", f"/cases/{case_id}/branch"),
        ("POST", f"/cases/{case_id}/archive"),
        ("POST", f"/cases/{case_id}/close"),
        ("GET", f"/sessions/{session_id}"),
        ("GET", f"/sessions/{session_id}/stream"),
        ("POST", f"/sessions/{session_id}/say"),
        ("POST", f"/sessions/{session_id}/cancel"),
        ("POST", f"/sessions/{session_id}/turns/0/mark"),
        ("POST", f"/sessions/{session_id}/end"),
        ("POST", f"/sessions/{session_id}/archive"),
        ("GET", f"/sessions/{session_id}/export.jsonl"),
        ("GET", "/jobs/j-anything"),
        ("GET", "/jobs/j-anything/stream"),
    ]


def test_every_id_bearing_route_is_in_the_idor_list(site: Site) -> None:
    """A new route with an id must be added to the ownership test below."""
    from fastapi.routing import APIRoute

    tested = {
        re.sub(r"/(c-x|s-x|j-anything|0)(?=/|\.|$)", "/{}", re.sub(r"\.jsonl$", ".{}", path))
        for _, path in id_routes("c-x", "s-x")
    }
    for route in site.app.routes:
        if isinstance(route, APIRoute) and "{" in route.path and not route.path.startswith("/invite"):
            assert re.sub(r"\{[^}]+\}", "{}", route.path) in tested, route.path


def test_another_therapists_ids_answer_404(site: Site, bob_session: str) -> None:
    ada = sign_in(site.url, site.ada.email)
    token = page_csrf(ada)
    before = _session_count(site)
    for method, path in id_routes(site.bob.case_id, bob_session):
        data = {"csrf_token": token, "text": "hi", "checkpoint": "ck-tinybase0001"}
        reply = ada.request(method, path, data=data if method == "POST" else None)
        assert reply.status_code == 404, (method, path, reply.status_code)
        assert "Bob" not in reply.text and "alert" not in reply.text
    assert _session_count(site) == before  # nothing was started on Bob's case
    # ... and the same ids that do not exist at all answer the same
    assert ada.get("/cases/c-doesnotexist").status_code == 404
    # Bob still sees his own
    bob = sign_in(site.url, site.bob.email)
    assert bob.get(f"/sessions/{bob_session}").status_code == 200


def _session_count(site: Site) -> int:
    with site.database.session() as session:
        return session.scalar(select(func.count()).select_from(TherapySession)) or 0


def test_user_text_is_escaped(site: Site, bob_session: str) -> None:
    bob = sign_in(site.url, site.bob.email)
    page = bob.get(f"/sessions/{bob_session}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    dashboard = bob.get("/").text
    assert "<b>Bold</b>" not in dashboard and "Bob &lt;b&gt;Bold&lt;/b&gt;" in dashboard


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_state_changes_need_the_csrf_token(site: Site, token: str | None) -> None:
    ada = sign_in(site.url, site.ada.email)
    before = _session_count(site)
    data: dict[str, Any] = {"specialization": "depression", "checkpoint": "ck-tinybase0001", "text": "hi"}
    if token is not None:
        data["csrf_token"] = token
    posts = [
        "/cases",
        f"/cases/{site.ada.case_id}/sessions",
        f"/cases/{site.ada.case_id}/branch",
        "/portfolio",
        "/account/password",
        "/logout",
    ]
    for path in posts:
        reply = ada.post(path, data=data)
        assert reply.status_code == 403, (path, reply.status_code)
        wrong_header = ada.post(path, headers={"X-CSRF-Token": token or ""})
        assert wrong_header.status_code == 403, path
    assert _session_count(site) == before
    assert not site.settings.path("portfolios").exists()  # no portfolio was built either
    assert ada.get("/").status_code == 200  # logout without a token did not sign out
    # the sign-in form itself is protected too (login CSRF)
    anonymous = httpx.Client(base_url=site.url)
    anonymous.get("/login")
    reply = anonymous.post("/login", data={"email": site.ada.email, "password": PASSWORD})
    assert reply.status_code == 403


def test_every_post_route_checks_csrf(site: Site) -> None:
    from fastapi.routing import APIRoute

    for route in site.app.routes:
        if isinstance(route, APIRoute) and "POST" in route.methods:
            names = {d.call.__name__ for d in route.dependant.dependencies}
            nested = {d.call.__name__ for dep in route.dependant.dependencies for d in dep.dependencies}
            assert "csrf" in names | nested, route.path


def test_session_id_rotates_at_login_and_dies_at_logout(site: Site) -> None:
    client = httpx.Client(base_url=site.url, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    assert "academy_session" not in client.cookies and "academy_csrf" in client.cookies  # nothing stored yet
    reply = client.post("/login", data={"email": site.ada.email, "password": PASSWORD, "csrf_token": token})
    assert reply.status_code == 303
    signed_in = client.cookies["academy_session"]
    cookie = next(c for c in reply.headers.get_list("set-cookie") if c.startswith("academy_session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    # a second sign-in gets a new session id and ends the one before: a session id known before sign-in is
    # worth nothing afterwards
    relogin = client.post(
        "/login", data={"email": site.ada.email, "password": PASSWORD, "csrf_token": page_csrf(client)}
    )
    assert relogin.status_code == 303 and client.cookies["academy_session"] != signed_in
    before = httpx.Client(base_url=site.url, follow_redirects=False, cookies={"academy_session": signed_in})
    assert before.get("/").status_code == 303
    signed_in = client.cookies["academy_session"]
    # a forged or tampered cookie is worth nothing either
    forged = httpx.Client(base_url=site.url, cookies={"academy_session": signed_in[:-2] + "xx"})
    assert forged.get("/", follow_redirects=False).status_code == 303
    # logout ends the session on the server: replaying the old cookie fails
    assert client.post("/logout", data={"csrf_token": page_csrf(client)}).status_code == 303
    replay = httpx.Client(base_url=site.url, follow_redirects=False, cookies={"academy_session": signed_in})
    assert replay.get("/").status_code == 303


def table_rows(site: Site) -> dict[str, int]:
    from sqlalchemy import inspect, text

    with site.database.engine.connect() as connection:
        names = inspect(connection).get_table_names()
        count = 'SELECT COUNT(*) FROM "{}"'
        return {name: connection.execute(text(count.format(name))).scalar_one() for name in names}


def test_anonymous_visitors_write_nothing(site: Site) -> None:
    before = table_rows(site)
    for _ in range(50):
        cookieless = httpx.Client(base_url=site.url, follow_redirects=False)
        assert cookieless.get("/login").status_code == 200
        assert cookieless.get("/").status_code == 303  # to /login, still writing nothing
    assert table_rows(site) == before
    # the anonymous CSRF token is the signed cookie's: a form from one browser does not work in another
    first, second = httpx.Client(base_url=site.url), httpx.Client(base_url=site.url)
    token = csrf_of(first.get("/login").text)
    second.get("/login")
    stolen = second.post("/login", data={"email": site.ada.email, "password": PASSWORD, "csrf_token": token})
    assert stolen.status_code == 403


def age_attempts(site: Site, seconds: int) -> None:
    """Moves every recorded failure ``seconds`` into the past: the throttle's clock, without sleeping."""
    from datetime import timedelta

    from jedi_academy.store.models import LoginAttempt

    with site.database.session() as session:  # in Python: SQLite has no datetime arithmetic
        for attempt in session.scalars(select(LoginAttempt)):
            attempt.at = attempt.at - timedelta(seconds=seconds)


def test_sign_in_is_slowed_progressively_but_the_owner_is_never_locked_out(site: Site) -> None:
    from jedi_academy.sessions import add_therapist
    from jedi_academy.web import accounts

    limit = accounts.RateLimit()
    carol = add_therapist(site.database, "Carol")
    invite = accounts.invite(site.database, carol.id, "carol@example.org")
    accounts.accept_invite(site.database, invite, PASSWORD)
    client = httpx.Client(base_url=site.url, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    guess = {"email": "carol@example.org", "password": "guess" * 3, "csrf_token": token}
    waits = []
    for _ in range(limit.free_per_account + 5):
        wrong = client.post("/login", data=guess)
        if wrong.status_code == 429:
            waits.append(int(wrong.headers["retry-after"]))
            assert "Wait" in wrong.text
            age_attempts(site, waits[-1])  # the attacker waits the delay out; the next guess counts again
            wrong = client.post("/login", data=guess)
        assert wrong.status_code == 401
    assert waits == sorted(waits) and waits[0] < waits[-1] <= limit.max_delay_s  # doubling, capped
    right = {"email": "Carol@example.org", "password": PASSWORD, "csrf_token": token}
    slowed = client.post("/login", data=right)
    assert slowed.status_code == 429 and "academy_session" not in slowed.headers.get("set-cookie", "")
    age_attempts(site, limit.max_delay_s)  # at most the longest delay later, the owner gets in
    assert client.post("/login", data=right).status_code == 303
    # another account from the same address was never slowed
    sign_in(site.url, site.ada.email)


def test_the_current_password_check_is_throttled(site: Site) -> None:
    from jedi_academy.sessions import add_therapist
    from jedi_academy.web import accounts

    erin = add_therapist(site.database, "Erin")
    invite = accounts.invite(site.database, erin.id, "erin@example.org")
    accounts.accept_invite(site.database, invite, PASSWORD)
    client = sign_in(site.url, "erin@example.org")
    new = "a fresh and long secret"
    statuses = []
    for _ in range(accounts.RateLimit().free_per_account + 1):
        data = {"current": "not it at all", "new": new, "new_again": new, "csrf_token": page_csrf(client)}
        statuses.append(client.post("/account/password", data=data).status_code)
    assert statuses[:-1] == [400] * accounts.RateLimit().free_per_account and statuses[-1] == 429
    right = {"current": PASSWORD, "new": new, "new_again": new, "csrf_token": page_csrf(client)}
    assert client.post("/account/password", data=right).status_code == 429  # even the right one waits
    age_attempts(site, accounts.RateLimit().max_delay_s)
    assert "Password changed" in client.post("/account/password", data=right).text


@pytest.mark.parametrize(
    ("password", "says"),
    [
        ("", "at least 10 characters"),
        ("x", "at least 10 characters"),
        ("password123456", "too easy to guess"),
        ("aaaaaaaaaaaaaaaa", "too easy to guess"),
        ("x" * 1025, "at most 1024"),
    ],
)
def test_weak_passwords_are_refused(password: str, says: str) -> None:
    from jedi_academy.errors import AcademyError
    from jedi_academy.web.accounts import check_password

    with pytest.raises(AcademyError, match=says):
        check_password(password)
    with pytest.raises(AcademyError, match="too easy to guess"):
        check_password("ada.lovelace1815", "ada.lovelace1815@example.org")  # leans on the email
    check_password(PASSWORD)


def test_security_headers(site: Site) -> None:
    client = sign_in(site.url, site.ada.email)
    for path in ("/", "/login", f"/cases/{site.ada.case_id}", "/static/app.js"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
    page = client.get(f"/cases/{site.ada.case_id}").text
    assert re.search(r"<script>(?!</script>)", page) is None  # no inline script anywhere
    assert " on" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S).split("<body")[1].split(">")[0]


def test_invite_password_change_and_logs(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    from jedi_academy.sessions import add_therapist
    from jedi_academy.web import accounts

    caplog.set_level(logging.DEBUG)
    dana = add_therapist(site.database, "Dana")
    token = accounts.invite(site.database, dana.id, "dana@example.org")
    client = httpx.Client(base_url=site.url, follow_redirects=False)
    form = client.get(f"/invite/{token}")
    assert form.status_code == 200 and "dana@example.org" in form.text
    new_password = "a much longer secret"
    data = {"password": new_password, "password_again": new_password, "csrf_token": csrf_of(form.text)}
    assert client.post(f"/invite/{token}", data=data).status_code == 303
    assert client.get("/").status_code == 200
    assert client.get(f"/invite/{token}").status_code == 404  # one use only
    other = sign_in(site.url, "dana@example.org", new_password)
    changed = "another long secret"
    reply = client.post(
        "/account/password",
        data={"current": new_password, "new": changed, "new_again": changed, "csrf_token": page_csrf(client)},
    )
    assert reply.status_code == 200 and "Password changed" in reply.text
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 303  # the other browser was signed out
    assert accounts.authenticate(site.database, "dana@example.org", new_password) is None
    assert accounts.authenticate(site.database, "dana@example.org", changed) is not None
    logged = "\n".join(  # the server's own loggers (the test's HTTP client logs its URLs itself)
        r.getMessage() for r in caplog.records if r.name.startswith(("jedi_academy", "uvicorn", "fastapi"))
    )
    assert "/invite/{token}" in logged
    for secret in (token, new_password, changed, PASSWORD):
        assert secret not in logged
