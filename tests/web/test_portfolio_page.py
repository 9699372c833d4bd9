"""The portfolio page over real HTTP: a signed-in therapist builds their own signed portfolio (CSRF-checked),
views and downloads it, and the download verifies; another therapist never sees it."""

from __future__ import annotations

import io
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerThread
from tests.web.conftest import Site, make_site, page_csrf, sign_in


@pytest.fixture(scope="module")
def assessed_site(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path, tiny_llm: Any) -> Iterator[Site]:
    """A served site whose cases' start checkpoint was assessed on PHQ-9 for their persona, for real."""
    from jedi_academy.assessment.runner import assess, checkpoint_target

    app, site = make_site(tmp_path_factory.mktemp("portfolio-page"), tiny_dir, tiny_llm)
    target = checkpoint_target(
        site.settings, site.database, "ck-tinybase0001", {("transformers", str(tiny_dir)): tiny_llm}
    )
    assess(site.settings, site.database, target, "phq-9", persona_id="p-robin")
    with ServerThread(app) as server:
        site.url = server.url
        yield site


def test_build_view_download_and_verify_own_portfolio(assessed_site: Site, tmp_path: Path) -> None:
    from jedi_academy.portfolio import verify_bundle

    site = assessed_site
    anonymous = httpx.Client(base_url=site.url, follow_redirects=False)
    assert anonymous.get("/portfolio").headers["location"] == "/login?next=%2Fportfolio"
    assert anonymous.get("/portfolio/download").status_code == 303

    ada = sign_in(site.url, site.ada.email)
    assert "No portfolio built yet" in ada.get("/portfolio").text
    assert ada.get("/portfolio/view").status_code == 404
    token = page_csrf(ada, "/portfolio")
    assert ada.post("/portfolio", data={}).status_code == 403  # no CSRF token: nothing is built
    assert not site.settings.path("portfolios", site.ada.id).exists()
    assert "No portfolio built yet" in ada.get("/portfolio").text

    assert ada.post("/portfolio", data={"csrf_token": token}).headers["location"] == "/portfolio"
    page = ada.get("/portfolio").text
    assert 'id="portfolio-built"' in page and site.ada.case_id in page
    folder = site.settings.path("portfolios", site.ada.id)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    first = (folder / "current").read_text()
    view = ada.get("/portfolio/view")
    assert view.status_code == 200 and "Ada Lovelace" in view.text
    # under the app's own CSP (style-src 'self'): no inline stylesheet, the same rules served as a file
    assert "style-src 'self'" in view.headers["content-security-policy"]
    assert "<style" not in view.text and 'style="' not in view.text
    assert '<link rel="stylesheet" href="/portfolio/style.css">' in view.text
    sheet = ada.get("/portfolio/style.css")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    assert ".case {" in sheet.text
    assert "<style>" in (folder / first / "index.html").read_text()  # the bundle's page stays self-contained

    download = ada.get("/portfolio/download")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path)
    top = f"portfolio-{site.ada.id}"
    assert f"{top}/portfolio.json" in names and f"{top}/index.html" in names
    report = verify_bundle(tmp_path / top)
    assert report.ok, report.as_dict()

    # a rebuild replaces the bundle; only the newest stays
    assert ada.post("/portfolio", data={"csrf_token": token}).status_code == 303
    second = (folder / "current").read_text()
    assert second != first
    assert sorted(p.name for p in folder.iterdir() if p.is_dir()) == [second]

    # Bob sees none of it: his portfolio page is his own, and he has built nothing
    bob = sign_in(site.url, site.bob.email)
    assert "No portfolio built yet" in bob.get("/portfolio").text
    assert bob.get("/portfolio/view").status_code == 404
    assert bob.get("/portfolio/download").status_code == 404
