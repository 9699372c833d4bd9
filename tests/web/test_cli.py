"""``academy web`` and ``academy therapist add --email`` through the real command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from jedi_academy.cli import main


def test_web_refuses_a_public_host_without_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--host", "0.0.0.0", "--port", "8123"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --host 0.0.0.0 is reachable from other machines")
    assert "Traceback" not in err


def test_therapist_add_with_email_prints_a_working_invite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], serve_app
) -> None:
    from jedi_academy.config import load_settings
    from jedi_academy.sessions import ModelPool
    from jedi_academy.store import open_database
    from jedi_academy.web.app import WebConfig, create_app
    from jedi_academy.web.security import load_secret

    data = tmp_path / "data"
    code = main(
        ["--data-dir", str(data), "therapist", "add", "Ada Lovelace", "--email", "Ada@Example.org", "--json"]
    )
    assert code == 0
    row = json.loads(capsys.readouterr().out)
    assert row["email"] == "ada@example.org"
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/invite/[A-Za-z0-9_-]{40,}", row["invite_url"])
    # a bad email is refused before anything is written
    assert main(["--data-dir", str(data), "therapist", "add", "Bob", "--email", "not-an-email"]) == 1
    assert "not an email address" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "therapist", "add", "Bob", "--email", "ada@example.org"]) == 1
    assert "already has an account" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "therapist", "list", "--json"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["Ada Lovelace"]

    settings = load_settings(data_dir=data)
    secret = load_secret(data)
    assert (data / "web" / "secret-key").stat().st_mode & 0o777 == 0o600
    assert load_secret(data) == secret  # made once, then reused
    app = create_app(settings, open_database(settings), ModelPool(settings), WebConfig(secret=secret))
    with serve_app(app) as server:
        client = httpx.Client(base_url=server.url)
        path = row["invite_url"].split("8000", 1)[1]
        form = client.get(path)
        assert form.status_code == 200 and "Ada Lovelace" in form.text
        # a new invite replaces the old one
        assert main(["--data-dir", str(data), "invite", "Ada Lovelace", "--json"]) == 0
        renewed = json.loads(capsys.readouterr().out)
        assert renewed["email"] == "ada@example.org" and renewed["invite_url"] != row["invite_url"]
        assert client.get(path).status_code == 404
        assert client.get(renewed["invite_url"].split("8000", 1)[1]).status_code == 200
    assert main(["--data-dir", str(data), "invite", "Nobody"]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_public_site_needs_secure_cookies(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["web", "--host", "0.0.0.0", "--i-understand-this-is-public"]) == 2
    err = capsys.readouterr().err
    assert "--i-understand-this-is-public" in err and "needs --secure-cookies" in err
    assert "Traceback" not in err
