"""The web app on PostgreSQL: accounts, login sessions, the rate limit and ownership."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerThread
from tests.web.conftest import PASSWORD, csrf_of, make_site, page_csrf, sign_in

pytestmark = pytest.mark.postgres


def test_the_web_app_on_postgresql(tmp_path: Path, tiny_dir: Path, tiny_llm: Any, postgres_url: str) -> None:
    app, site = make_site(tmp_path, tiny_dir, tiny_llm, database_url=postgres_url)
    assert site.database.engine.dialect.name == "postgresql"
    with ServerThread(app) as server:
        ada = sign_in(server.url, site.ada.email)
        assert ada.get(f"/cases/{site.ada.case_id}").status_code == 200
        assert ada.get(f"/cases/{site.bob.case_id}").status_code == 404
        started = ada.post(f"/cases/{site.ada.case_id}/sessions", data={"csrf_token": page_csrf(ada)})
        assert started.status_code == 303
        assert ada.post(f"/cases/{site.ada.case_id}/sessions").status_code == 403
        client = httpx.Client(base_url=server.url)
        token = csrf_of(client.get("/login").text)
        for _ in range(3):  # the free tries (RateLimit.free_per_account); then each try waits longer
            wrong = {"email": site.bob.email, "password": "not the password", "csrf_token": token}
            assert client.post("/login", data=wrong).status_code == 401
        right = {"email": site.bob.email, "password": PASSWORD, "csrf_token": token}
        assert client.post("/login", data=right).status_code == 429
