"""The services' result base: ``as_dict()`` is the ``--json`` form, nested results included."""

from __future__ import annotations

import json
from dataclasses import dataclass

from typer.testing import CliRunner

from jedi_academy.results import Result, plain


@dataclass(frozen=True)
class Inner(Result):
    name: str
    score: float | None


@dataclass(frozen=True)
class Outer(Result):
    id: str
    inners: list[Inner]
    by_name: dict[str, Inner]
    pair: tuple[int, int]


def test_as_dict_turns_nested_results_into_plain_values() -> None:
    outer = Outer("x", [Inner("a", 1.5), Inner("b", None)], {"a": Inner("a", 1.5)}, (1, 2))
    assert outer.as_dict() == {
        "id": "x",
        "inners": [{"name": "a", "score": 1.5}, {"name": "b", "score": None}],
        "by_name": {"a": {"name": "a", "score": 1.5}},
        "pair": [1, 2],
    }
    assert plain([Inner("c", 2.0)]) == [{"name": "c", "score": 2.0}]


def test_print_json_prints_a_result_as_its_dict() -> None:
    import typer

    from jedi_academy.cli_kit import print_json

    app = typer.Typer()

    @app.command()
    def show() -> None:
        print_json([Inner("a", 0.25)])

    out = CliRunner().invoke(app, [])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"name": "a", "score": 0.25}]
