"""One running web app per test module: the tiny model as every patient, two therapists with accounts, each
with a case, served by uvicorn on a loopback port."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerThread
from tests.factories import add_persona
from tests.sessions.conftest import BASE_CHECKPOINT, add_base_checkpoint

PASSWORD = "correct horse battery"
CHROMIUM = "/usr/bin/chromium"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


@dataclass
class Therapist:
    id: str
    name: str
    email: str
    case_id: str


@dataclass
class Site:
    url: str
    settings: Any
    database: Any
    app: Any
    ada: Therapist
    bob: Therapist


def make_site(
    root: Path, tiny_dir: Path, tiny_llm: Any, database_url: str | None = None, **config: Any
) -> tuple[Any, Site]:
    from jedi_academy.config import load_settings
    from jedi_academy.sessions import ModelPool, ModelSpec, add_therapist, open_case
    from jedi_academy.store import open_database
    from jedi_academy.web import accounts
    from jedi_academy.web.app import WebConfig, create_app

    settings = load_settings(
        data_dir=root / "data", model=str(tiny_dir), device="cpu", database_url=database_url
    )
    database = open_database(settings)
    from jedi_academy.specializations.loading import packaged_specializations
    from jedi_academy.specializations.sync import sync_specializations

    sync_specializations(database, packaged_specializations().values())  # depression measured by PHQ-9
    add_persona(database, "p-robin", specialization="depression", name="Robin")
    add_persona(database, "p-sam", specialization="depression", name="Sam")
    add_base_checkpoint(database, str(tiny_dir))
    people = []
    for name, email in (("Ada Lovelace", "ada@example.org"), ("Bob <b>Bold</b>", "bob@example.org")):
        therapist = add_therapist(database, name)
        token = accounts.invite(database, therapist.id, email)
        accounts.accept_invite(database, token, PASSWORD)
        case = open_case(
            database, therapist.id, "depression", persona="p-robin", checkpoint=BASE_CHECKPOINT
        )
        people.append(Therapist(therapist.id, name, email, case.id))
    pool = ModelPool(settings)
    pool.share(ModelSpec("transformers", settings.model, None), tiny_llm)
    web_config = WebConfig(secret=b"test-secret-" + b"x" * 20, max_tokens=8, session_seed=7, **config)
    app = create_app(settings, database, pool, web_config)
    return app, Site("", settings, database, app, people[0], people[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Iterator[Site]:
    app, site = make_site(tmp_path_factory.mktemp("web"), tiny_dir, tiny_llm)
    with ServerThread(app) as server:
        site.url = server.url
        yield site


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(url: str, email: str, password: str = PASSWORD) -> httpx.Client:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    token = csrf_of(client.get("/login").text)
    reply = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert reply.status_code == 303, reply.text
    return client


def page_csrf(client: httpx.Client, path: str = "/") -> str:
    return csrf_of(client.get(path).text)


# ---------------------------------------------------------------- the browser (Debian's Chromium)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.skip(
            "Debian's chromium package is not installed (.ci/run installs it: apt-get install chromium)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context; any console error (a CSP violation included) fails the test."""
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == []


def shoot(page: Any, name: str) -> None:
    """A full-page screenshot for the docs (docs/images/web-NAME.png)."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / f"web-{name}.png"), full_page=True)
