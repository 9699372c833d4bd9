"""``academy conversations ...`` (keep imports light: this module loads on every CLI start)."""

import typer

app = typer.Typer(help="Therapist/patient conversations: generate, list, show.", no_args_is_help=True)
