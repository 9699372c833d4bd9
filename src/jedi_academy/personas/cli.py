"""``academy personas ...`` (keep imports light: this module loads on every CLI start)."""

import typer

app = typer.Typer(help="Grounded persona cards: generate, list, show.", no_args_is_help=True)
