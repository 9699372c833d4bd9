"""``verify --recompute``: re-run every assessment in a bundle from its adapter on the same base model and
check that the numbers match the signed records.

The in-character prompt comes from the persona card, which a portfolio never carries; it is read from this
instance's database by the persona's content-addressed id (the same id means the same card), so recomputing
needs an instance that holds those personas. Runs without a persona need nothing but the bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jedi_academy.errors import AcademyError
from jedi_academy.llm.adapters import adapter_for_backend
from jedi_academy.portfolio import figures
from jedi_academy.portfolio.build import ADAPTERS_DIR
from jedi_academy.store import ledger

if TYPE_CHECKING:
    from jedi_academy.config import Settings
    from jedi_academy.store import Database

DISTRIBUTION_TOLERANCE = 1e-5


@dataclass(frozen=True)
class RecomputeOptions:
    model: str | None = None  # the base model to load (default: each run's recorded model)
    runs: frozenset[str] | None = None  # only these assessment run ids (default: all)


def recompute_problems(
    settings: Settings,
    database: Database,
    folder: Path,
    body: dict[str, Any],
    options: RecomputeOptions = RecomputeOptions(),
    progress: Callable[[str], None] | None = None,
) -> tuple[list[str], int]:
    """Re-run each included assessment; returns the problems and how many runs were recomputed."""
    from jedi_academy.assessment.prompts import PROMPT_VERSION
    from jedi_academy.assessment.runner import SampleOptions, administer, persona_prompt
    from jedi_academy.assessment.summary import summarise
    from jedi_academy.assessment.validity import judge
    from jedi_academy.instruments import load_instrument
    from jedi_academy.llm import open_llm

    records = body["records"]
    problems: list[str] = []
    llms: dict[str, Any] = {}
    done = 0
    for _ref, item in sorted(records.items()):
        if item["kind"] != "assessment_run":
            continue
        run = item["content"]
        if options.runs is not None and item["subject_id"] not in options.runs:
            continue
        name = ledger.describe(item["seq"], item["kind"], item["subject_id"])
        if run["prompt_version"] != PROMPT_VERSION:
            problems.append(
                f"{name}: asked with prompt {run['prompt_version']}, this academy has {PROMPT_VERSION}"
            )
            continue
        try:
            adapter = _adapter(folder, records, run)
            instrument = load_instrument(run["instrument_id"], settings.data_dir)
            if str(instrument.definition.version) != run["instrument_version"]:
                raise AcademyError(f"instrument version {run['instrument_version']} is not installed")
            prompt = persona_prompt(database, run["persona_id"])
        except AcademyError as exc:
            problems.append(f"{name}: cannot recompute: {exc}")
            continue
        model = options.model or _local_model(settings.model, run["model"])
        if model is None:
            problems.append(
                f"{name}: ran on a local model ({run['model']}): give its folder with --model PATH"
            )
            continue
        if model not in llms:
            llms[model] = open_llm(settings, backend=run["backend"], model=model)
        if progress:
            progress(f"recomputing {name}")
        sample = SampleOptions(**(run["result"].get("sample_options") or {}))
        administration = administer(
            llms[model], instrument, prompt, run["mode"], run["seed"], adapter, sample
        )
        summary = summarise(instrument, administration.items, run["seed"])
        stated = run["result"].get("validity")
        verdict = judge(
            run["mode"], administration.items, summary["total"] is not None,
            attention=administration.attention_measures,
        )  # fmt: skip
        if stated is not None and stated.get("valid") != verdict["valid"]:
            problems.append(f"{name}: recomputed validity {verdict['valid']} differs from {stated['valid']}")
        for field_name in ("total", "ci_low", "ci_high"):
            if not figures.close(summary[field_name], run[field_name], 1e-6):
                problems.append(
                    f"{name}: recomputed {field_name} {summary[field_name]} differs from {run[field_name]}"
                )
        recorded = {i["item_id"]: i["distribution"] for i in run["items"]}
        for outcome in administration.items:
            again = {str(code): p for code, p in outcome.distribution.items()}
            before = recorded.get(outcome.item_id, {})
            if set(again) != set(before) or any(
                abs(again[c] - before[c]) > DISTRIBUTION_TOLERANCE for c in again
            ):
                problems.append(f"{name}: item {outcome.item_id} answers differently on recomputation")
        done += 1
    return problems, done


def _adapter(folder: Path, records: dict[str, dict[str, Any]], run: dict[str, Any]) -> str | None:
    if run["checkpoint_id"] is None:
        return None
    checkpoint = records.get(f"checkpoint:{run['checkpoint_id']}")
    if checkpoint is None:
        raise AcademyError(f"checkpoint {run['checkpoint_id']} is not in the bundle")
    content = checkpoint["content"]
    if content["kind"] == "remote":
        raise AcademyError(
            f"checkpoint {content['id']} is a remote model; it cannot be re-run from the bundle"
        )
    sha = content["adapter_sha256"]
    if sha is None:
        return None
    path = folder / ADAPTERS_DIR / sha
    if run["backend"] == "openai":  # a server holds the adapters: it serves this one under the checkpoint id
        return adapter_for_backend(run["backend"], content["id"], path)
    if not path.is_dir():
        raise AcademyError(
            f"the adapter of checkpoint {content['id']} is not in the bundle (build with --with-adapters)"
        )
    return str(path)


def _local_model(configured: str, recorded: str) -> str | None:
    """The model to load for a recorded name: a local folder is recorded by its last component only (no
    path in a portfolio), so it is this instance's configured model when the names agree."""
    if not recorded.startswith("local:"):
        return recorded
    return configured if ledger.model_name(configured) == recorded else None
