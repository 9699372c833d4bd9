"""``academy ingest`` (keep imports light: this module loads on every CLI start)."""

import typer


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to the root app."""
