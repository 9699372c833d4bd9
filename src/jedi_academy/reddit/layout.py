"""Where ingestion output lives. One output folder holds the dataset of the latest run into it::

<out>/comments/specialization=<id>/data.parquet     kept comments, in the order read
<out>/bundles/specialization=<id>/bundles.parquet   one row per author: their comments, oldest first
<out>/manifest.json                                  run id, inputs, rules, summary
<out>/.checkpoint/                                   resume state of an unfinished run
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jedi_academy.config import Settings

DEFAULT_FOLDER = "reddit"
COMMENTS = "comments"
BUNDLES = "bundles"
MANIFEST = "manifest.json"
CHECKPOINT = ".checkpoint"
DATA_FILE = "data.parquet"
BUNDLES_FILE = "bundles.parquet"


def default_output_dir(settings: Settings) -> Path:
    return settings.path(DEFAULT_FOLDER)


def comments_dir(out: Path, spec_id: str) -> Path:
    return out / COMMENTS / f"specialization={spec_id}"


def bundles_file(out: Path, spec_id: str) -> Path:
    return out / BUNDLES / f"specialization={spec_id}" / BUNDLES_FILE
