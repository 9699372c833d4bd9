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

from jedi_academy.portfolio import CaseInput, PortfolioRequest, SessionInput, build_portfolio, figures
from jedi_academy.portfolio.build import document_bytes
from jedi_academy.store import ledger
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


# The tiny model's runs are all invalid (it barely answers on the option labels), so a genuine bundle of this
# world has no therapist effect and no mean. The planted bundle is built genuinely with control runs and a
# second persona, then its run records are made valid with these totals and standard errors (by run id
# order), its chain, figures and aggregate recomputed by portfolio/figures.py, and it is signed with the
# instance's own key: every figure the page recomputes then carries a number.
PLANTED = [(12.0, 1.0), (9.0, 1.2), (7.0, 0.8), (14.0, 1.1), (10.0, 0.9)]


@pytest.fixture(scope="module")
def planted(world: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    robin = CaseInput("c-robin", "depression", "p-robin", "phq-9", world.baseline, sessions=(
        SessionInput(1, run_id=world.after_session_1, control_run_id=world.after_session_2),
        SessionInput(2, run_id=world.after_session_2, control_run_id=world.after_session_1)))
    sam = CaseInput("c-sam", "depression", "p-sam", "phq-9", world.other_baseline, sessions=(
        SessionInput(1, run_id=world.other_after, control_run_id=world.other_baseline),))
    out = tmp_path_factory.mktemp("planted") / "portfolio-t-1"
    both = PortfolioRequest("t-1", "Ada Padawan", [robin, sam])
    build_portfolio(world.database, world.settings.data_dir, both, out)
    document = json.loads((out / "portfolio.json").read_text())
    body = document["body"]
    records = body["records"]
    runs = sorted((r for r in records.values() if r["kind"] == "assessment_run"),
                  key=lambda r: r["content"]["id"])
    assert len(runs) == len(PLANTED)
    links = {seq: sha for seq, sha in body["chain"]["links"]}
    for item, (total, se) in zip(runs, PLANTED, strict=True):
        run = item["content"]
        run.update(total=total, ci_low=total - 1.96 * se, ci_high=total + 1.96 * se)
        run["result"].update(standard_error=se, validity={"valid": True, "reasons": []})
        links[item["seq"]] = ledger.body_sha256(item["seq"], item["kind"], item["subject_id"],
                                                ledger.content_sha256(run))
    body["chain"]["links"] = [[seq, links[seq]] for seq, _sha in body["chain"]["links"]]
    current = body["chain"]["prev_sha256"]
    for _seq, sha in body["chain"]["links"]:
        current = ledger.entry_sha256(current, sha)
    body["chain"]["head"]["entry_sha256"] = body["chain"]["signed_head"]["entry_sha256"] = current
    for case in body["cases"]:
        case["figures"] = figures.case_figures({k: v for k, v in case.items() if k != "figures"}, records)
    body["aggregate"] = figures.aggregate(body["cases"])
    (out / "portfolio.json").write_bytes(document_bytes(document))
    _resign(out, world.settings.data_dir)
    block = body["aggregate"][0]
    # what the planted bundle must exercise: effects with intervals, and means over two personas
    assert block["personas_with_valid_change"] == 2 and block["personas_with_effect"] == 2, block
    assert block["mean_change_ci95"] is not None and block["mean_effect_ci95"] is not None, block
    assert body["cases"][0]["figures"]["sessions"][0]["control"]["total"] == 7.0
    assert body["cases"][1]["figures"]["effect"]["classification"] == "therapist better than control"
    return {p.name: p.read_bytes() for p in out.iterdir()}


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


NO_DIFFERENCE = "no difference beyond measurement noise"


def _planted_tamper(change: Callable[[dict], None]) -> Callable[..., dict[str, bytes]]:  # type: ignore[type-arg]
    return lambda f: _document(f, _body(change))


def _session(body: dict, index: int) -> dict:  # type: ignore[type-arg]
    return body["cases"][0]["figures"]["sessions"][index]


def _sam_effect(body: dict) -> dict:  # type: ignore[type-arg]
    return body["cases"][1]["figures"]["effect"]


def _aggregate(body: dict) -> dict:  # type: ignore[type-arg]
    return body["aggregate"][0]


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
    "a session effect": (_planted_tamper(lambda b: _session(b, 0)["effect"].update(effect=3.0)),
                         "case c-robin: session 1 effect.effect does not follow"),
    "a session effect's interval":
        (_planted_tamper(lambda b: _session(b, 1)["effect"].update(ci95=[-9.0, 1.0])),
         "case c-robin: session 2 effect.ci95 does not follow"),
    "a case effect": (_planted_tamper(lambda b: _sam_effect(b).update(standard_error=0.5)),
                      "case c-sam: effect.standard_error does not follow"),
    "a classification's side":
        (_planted_tamper(lambda b: _sam_effect(b).update(classification=NO_DIFFERENCE)),
         "case c-sam: effect.classification"),
    "a flipped side":  # the session's effect still says better: the instrument's direction is contradicted
        (_planted_tamper(lambda b: _sam_effect(b).update(classification="therapist worse than control")),
         "case c-sam: effect.classification contradicts the direction"),
    "a control score": (_planted_tamper(lambda b: _session(b, 0)["control"].update(total=8.0)),
                        "case c-robin: session 1 control.total does not follow"),
    "an aggregate mean":
        (_planted_tamper(lambda b: _aggregate(b).update(mean_change=_aggregate(b)["mean_change"] + 0.5)),
         "aggregate phq-9: mean_change does not follow"),
    "an aggregate interval": (_planted_tamper(lambda b: _aggregate(b)["mean_effect_ci95"].append(0.0)),
                              "aggregate phq-9: mean_effect_ci95 does not follow"),
    "an aggregate count": (_planted_tamper(lambda b: _aggregate(b).update(personas_with_effect=1)),
                           "aggregate phq-9: personas_with_effect does not follow"),
}  # fmt: skip


def test_a_genuine_portfolio_verifies(browser: Any, verifier: Path, genuine: dict, tmp_path: Path) -> None:  # noqa: F811
    verdict, said = _check(browser, verifier, _zip(tmp_path / "p.zip", genuine))
    assert verdict == "verified", said
    assert "VERIFIED: signed by" in said and "records match their ledger entries" in said
    page = verifier.read_text()
    assert "<script src" not in page and "http://" not in page.split("<script", 1)[1]


def test_a_planted_bundle_with_effects_and_means_verifies(browser: Any, verifier: Path, planted: dict, tmp_path: Path) -> None:  # noqa: F811, E501
    verdict, said = _check(browser, verifier, _zip(tmp_path / "p.zip", planted))
    assert verdict == "verified", said
    assert "every control score and therapist effect (sessions and cases) of 2 case(s) follows" in said
    assert "every aggregate (counts, shares, means over personas and their 95% t intervals) follows" in said


def test_the_pages_t_quantile_matches_scipy(browser: Any, verifier: Path) -> None:  # noqa: F811
    from scipy.stats import t

    context = browser.new_context(bypass_csp=True)  # only so that the test may call the page's function
    try:
        page = context.new_page()
        page.goto(verifier.as_uri())
        for df in (1, 2, 3, 4, 7, 12, 30, 120):
            for p in (0.975, 0.9, 0.995, 0.3):
                got = page.evaluate("([p, df]) => tQuantile(p, df)", [p, df])
                assert got == pytest.approx(float(t.ppf(p, df)), rel=1e-10, abs=1e-12), (p, df)
    finally:
        context.close()


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_every_tamper_fails_in_the_browser(browser: Any, verifier: Path, planted: dict, tmp_path: Path, kind: str) -> None:  # noqa: F811, E501
    # the planted bundle (it verifies, above) carries every figure the page checks, effects and means included
    tamper, expected = TAMPERS[kind]
    verdict, said = _check(browser, verifier, _zip(tmp_path / "t.zip", tamper(planted)))
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
