"""The verifier page in the client's browser (Debian's Chromium through Playwright): a genuine portfolio
verifies against the key built into the page; every kind of tamper, and a bundle signed by another key,
fails."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jedi_academy.portfolio import build_portfolio
from jedi_academy.portfolio.build import document_bytes
from tests.portfolio.test_portfolio import _resign, request
from tests.web.conftest import browser  # noqa: F401  (the module's Chromium)


@pytest.fixture(scope="module")
def genuine(world: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("verifier") / "bundle"
    build_portfolio(world.database, world.settings.data_dir, request(world), out)
    return {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.fixture(scope="module")
def with_adapters(world: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verifier") / "portfolio-t-1"
    build_portfolio(world.database, world.settings.data_dir, request(world, with_adapters=True), out)
    return out


def _tree(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def verifier(world: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from jedi_academy.cli import main

    out = tmp_path_factory.mktemp("page") / "verify.html"
    assert main(["--data-dir", str(world.settings.data_dir), "portfolio", "verifier", "--out", str(out)]) == 0
    return out


def _zip(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(f"portfolio-t-1/{name}", data)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(f"portfolio-t-1/{name}")
            info.external_attr = 0o120777 << 16  # a symlink
            archive.writestr(info, target)
    return path


def _check(browser: Any, page_file: Path, bundle: Path, control: str = "#zip") -> tuple[str, str]:  # noqa: F811
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("request", lambda r: None if r.url.startswith("file:") else errors.append(f"net: {r.url}"))
        page.goto(page_file.as_uri())
        page.set_input_files(control, str(bundle))
        # polls until the checks have run (a selector: the page's CSP forbids evaluating strings)
        page.wait_for_selector("#verdict:not([data-verdict='none'])", timeout=30_000)
        verdict = page.get_attribute("#verdict", "data-verdict") or ""
        said = page.inner_text("body")
    finally:
        context.close()
    assert errors == []
    return verdict, said


def _document(files: dict[str, bytes], change: Callable[[dict], None]) -> dict[str, bytes]:  # type: ignore[type-arg]
    document = json.loads(files["portfolio.json"])
    change(document)
    return {**files, "portfolio.json": document_bytes(document)}


def _body(change: Callable[[dict], None]) -> Callable[[dict], None]:  # type: ignore[type-arg]
    return lambda document: change(document["body"])


def _first_run(body: dict) -> dict:  # type: ignore[type-arg]
    return next(r for r in body["records"].values() if r["kind"] == "assessment_run")["content"]


TAMPERS: dict[str, tuple[Callable[..., dict[str, bytes]], str]] = {
    "an item distribution": (lambda f: _document(f, _body(lambda b: _first_run(b)["items"][0]["distribution"]
                             .update({"3": 0.5}))), "does not match the hash chain"),
    "a stated score": (lambda f: _document(f, _body(lambda b: b["cases"][0]["figures"]["baseline"]
                       .update(total=1.0))), "baseline.total does not follow"),
    "whitespace":
        (lambda f: {**f, "portfolio.json": f["portfolio.json"].replace(b'"body": {', b'"body":  {', 1)},
         "exactly the form"),
    "an unsigned endorsement": (lambda f: _document(f, lambda d: d.update(endorsement="Jedi Council")),
                                "fields outside the signed body: endorsement"),
    "the algorithm": (lambda f: _document(f, lambda d: d["signature"].update(algorithm="Ed25519-ish")),
                      "plain Ed25519 signature"),
    "an extra signature field": (lambda f: _document(f, lambda d: d["signature"].update(note="ok")),
                                 "plain Ed25519 signature"),
    "the signature value": (lambda f: _document(f, lambda d: d["signature"].update(
        value=d["signature"]["value"][:10] + ("A" if d["signature"]["value"][10] != "A" else "B")
        + d["signature"]["value"][11:])), "the signature matches the body"),
    "a removed chain link": (lambda f: _document(f, _body(lambda b: b["chain"]["links"].pop(1))),
                             "the chain links from entry 1"),
    "the signed head": (lambda f: _document(f, _body(lambda b: b["chain"]["signed_head"].update(seq=1))),
                        "the academy signed into its heads file"),
    "the left-out count": (lambda f: _document(f, _body(lambda b: b["selection"].update(opened=7))),
                           "the reasons for the others add up"),
    "an extra file": (lambda f: {**f, "notes.txt": b"trust me"}, "unexpected file(s): notes.txt"),
    "a missing page":
        (lambda f: {k: v for k, v in f.items() if k != "index.html"}, "no unexpected or missing"),
}  # fmt: skip


def test_a_genuine_portfolio_verifies(browser: Any, verifier: Path, genuine: dict, tmp_path: Path) -> None:  # noqa: F811
    verdict, said = _check(browser, verifier, _zip(tmp_path / "p.zip", genuine))
    assert verdict == "verified", said
    assert "VERIFIED: signed by" in said and "records match their ledger entries" in said
    page = verifier.read_text()
    assert "<script src" not in page and "http://" not in page.split("<script", 1)[1]


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_every_tamper_fails_in_the_browser(browser: Any, verifier: Path, genuine: dict, tmp_path: Path, kind: str) -> None:  # noqa: F811, E501
    tamper, expected = TAMPERS[kind]
    verdict, said = _check(browser, verifier, _zip(tmp_path / "t.zip", tamper(genuine)))
    assert verdict == "failed", said
    assert "NOT VERIFIED" in said and expected in said, said


def test_a_symlink_in_the_zip_fails(browser: Any, verifier: Path, genuine: dict, tmp_path: Path) -> None:  # noqa: F811
    bundle = _zip(tmp_path / "l.zip", genuine, links={"adapters": "/etc"})
    verdict, said = _check(browser, verifier, bundle)
    assert verdict == "failed" and "adapters is a symlink (refused)" in said, said


def test_another_signer_fails(browser: Any, verifier: Path, genuine: dict, tmp_path: Path) -> None:  # noqa: F811
    folder = tmp_path / "resigned"
    folder.mkdir()
    for name, data in genuine.items():
        (folder / name).write_bytes(data)
    _resign(folder, tmp_path / "forger", lambda body: body["therapist"].update(name="Ada Master"))
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    verdict, said = _check(browser, verifier, _zip(tmp_path / "f.zip", files))
    assert verdict == "failed" and "NOT VERIFIED" in said, said


def test_adapters_are_hashed_in_the_browser(browser: Any, verifier: Path, with_adapters: Path, tmp_path: Path) -> None:  # noqa: F811, E501
    files = _tree(with_adapters)
    adapter_files = sorted(name for name in files if name.startswith("adapters/"))
    assert adapter_files, "the bundle carries no adapter, so nothing would be hashed"
    verdict, said = _check(browser, verifier, _zip(tmp_path / "a.zip", files))
    assert verdict == "verified", said
    assert "adapter(s) match the hashes their checkpoints declare" in said
    # one changed byte in one adapter file: the tree hash differs
    changed = dict(files)
    changed[adapter_files[0]] = bytes([files[adapter_files[0]][0] ^ 1]) + files[adapter_files[0]][1:]
    verdict, said = _check(browser, verifier, _zip(tmp_path / "b.zip", changed))
    assert verdict == "failed" and "files do not match its hash" in said, said
    # an adapter file taken away
    missing = {k: v for k, v in files.items() if k != adapter_files[-1]}
    verdict, said = _check(browser, verifier, _zip(tmp_path / "c.zip", missing))
    assert verdict == "failed" and "files do not match its hash" in said, said


def test_a_folder_chosen_in_the_browser_verifies(browser: Any, verifier: Path, with_adapters: Path) -> None:  # noqa: F811
    verdict, said = _check(browser, verifier, with_adapters, control="#folder")
    assert verdict == "verified", said
    assert "adapter(s) match the hashes their checkpoints declare" in said


def test_a_changed_file_in_a_chosen_folder_fails(browser: Any, verifier: Path, with_adapters: Path, tmp_path: Path) -> None:  # noqa: F811, E501
    folder = tmp_path / "portfolio-t-1"
    for name, data in _tree(with_adapters).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("trust me")
    verdict, said = _check(browser, verifier, folder, control="#folder")
    assert verdict == "failed" and "unexpected file(s): notes.txt" in said, said
