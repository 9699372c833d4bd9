"""``academy specializations ...`` (keep imports light: this module loads on every CLI start)."""

import typer

app = typer.Typer(help="Specializations: list and show.", no_args_is_help=True)
