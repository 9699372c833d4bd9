"""A therapist's portfolio in the web app, built with the portfolio stage's public API into the therapist's
own folder of the data directory (``portfolios/THERAPIST_ID/``, 0700).

Each build goes to a new folder; the file ``current`` names the newest one and is replaced atomically only
once the bundle is complete, so a crash mid-build leaves the previous portfolio in place (the orphaned
folder is removed by the next build)."""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from jedi_academy.errors import AcademyError
from jedi_academy.results import Result

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.portfolio.build import ChainHead
    from jedi_academy.store import Database

POINTER = "current"
SAFE_ID = re.compile(r"[A-Za-z0-9_-]+")


def therapist_folder(settings: Settings, therapist_id: str) -> Path:
    if not SAFE_ID.fullmatch(therapist_id):
        raise AcademyError(f"therapist id {therapist_id!r} cannot name a folder")
    return settings.path("portfolios", therapist_id)


def current_bundle(settings: Settings, therapist_id: str) -> Path | None:
    """The folder of the therapist's newest complete portfolio, or None before the first build."""
    folder = therapist_folder(settings, therapist_id)
    try:
        name = (folder / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    bundle = folder / name
    if not SAFE_ID.fullmatch(name) or not (bundle / "portfolio.json").is_file():
        raise AcademyError(f"{folder / POINTER} names no complete portfolio", "build the portfolio again")
    return bundle


@dataclass(frozen=True)
class BundleSummary(Result):
    """What the portfolio page shows about a built bundle."""

    generated_at: str
    cases: list[str]
    records: int
    fingerprint: str
    head: ChainHead
    reference_missing: str | None


def bundle_summary(bundle: Path) -> BundleSummary:
    """What the page shows about a built bundle (read from its signed document)."""
    from jedi_academy.portfolio.build import ChainHead

    body = json.loads((bundle / "portfolio.json").read_text(encoding="utf-8"))["body"]
    return BundleSummary(
        generated_at=body["generated_at"],
        cases=[case["case"] for case in body["cases"]],
        records=len(body["records"]),
        fingerprint=body["instance"]["fingerprint"],
        head=ChainHead(**body["chain"]["head"]),
        reference_missing=body["reference"]["missing"],
    )


def build_for(settings: Settings, database: Database, therapist_id: str) -> Path:
    """Build and sign the therapist's portfolio over all their cases; returns the new bundle's folder."""
    from jedi_academy.portfolio import build_portfolio, portfolio_request

    folder = therapist_folder(settings, therapist_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    request = portfolio_request(database, therapist_id)  # cases without a baseline are left out, with why
    name = f"build-{secrets.token_hex(6)}"
    build_portfolio(database, settings.data_dir, request, folder / name, settings.instance)
    os.chmod(folder / name, 0o700)
    pointer = folder / f".{POINTER}-{name}"
    with pointer.open("w", encoding="utf-8") as handle:
        handle.write(name)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, folder / POINTER)
    for old in folder.iterdir():  # earlier builds, and any a crash left behind
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return folder / name


def bundle_zip(bundle: Path, top: str) -> bytes:
    """The bundle as a zip with its files under ``top/`` (unpacked, `academy portfolio verify` reads it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
            archive.write(path, f"{top}/{path.relative_to(bundle).as_posix()}")
    return buffer.getvalue()
