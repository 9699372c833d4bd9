"""`academy run` on the shipped synthetic sample with the tiny model, at the smallest settings that still make
two personas (two authors), their conversations, a dataset version, a fine-tuned checkpoint and baseline
runs: what `academy erase` has to take apart. Built once per test session and copied per test."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PIPELINE = """
name = "erase"
[input]
dumps = ["sample"]
specializations = ["anxiety"]
[teacher]
model = "{model}"
[base]
model = "{model}"
[personas]
n = 2
max_tokens = 1500
max_trait_chars = 12
max_list_items = 1
grounding = false
first_person = "heuristic"
[conversations]
per_persona = 1
turns = 1
max_tokens = 12
therapist_max_tokens = 8
keep_truncated = true
self_cure_judge = false
consistency_sample = 0
[dataset]
validation_fraction = 0
[training]
steps = 1
rank = 2
batch_size = 2
save_every = 1
eval_every = 1
[assessment]
max_personas = 1
"""


@dataclass
class RunWorld:
    data_dir: Path
    settings: Any
    cli: list[str]


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory, tiny_dir: Path) -> Path:
    """The data directory after `academy run` on the shipped sample (the pipeline's own service)."""
    from jedi_academy.config import load_settings
    from jedi_academy.pipeline.config import load_pipeline
    from jedi_academy.pipeline.run import Pipeline

    root = tmp_path_factory.mktemp("erase-template")
    toml = root / "pipeline.toml"
    toml.write_text(PIPELINE.format(model=tiny_dir), encoding="utf-8")
    settings = load_settings(data_dir=root / "data", model=str(tiny_dir), device="cpu")
    pipeline = Pipeline(settings, load_pipeline(toml), root)
    pipeline.run()
    pipeline.database.dispose()
    return root / "data"


@pytest.fixture
def run_world(sample_run: Path, tmp_path: Path, tiny_dir: Path) -> RunWorld:
    """A copy of the run's data directory for one test. Paths inside it (ingest output, exports) name the
    template, so the copy's database is pointed at the copy's folders."""
    from sqlalchemy import select

    from jedi_academy.config import load_settings
    from jedi_academy.store import open_database
    from jedi_academy.store.models import IngestRun

    data = tmp_path / "data"
    shutil.copytree(sample_run, data)
    settings = load_settings(data_dir=data, model=str(tiny_dir), device="cpu")
    database = open_database(settings)
    with database.session() as session:
        for run in session.scalars(select(IngestRun)):
            if run.output_dir:
                run.output_dir = run.output_dir.replace(str(sample_run), str(data))
    database.dispose()
    return RunWorld(data, settings, ["--data-dir", str(data), "--model", str(tiny_dir), "--device", "cpu"])
