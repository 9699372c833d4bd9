"""``academy instruments ...`` (keep imports light: this module loads on every CLI start)."""

import typer

app = typer.Typer(
    help="Validated questionnaires: list, show, validate, import, score, PubMed.", no_args_is_help=True
)
