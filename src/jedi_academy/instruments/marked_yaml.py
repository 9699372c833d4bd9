"""YAML loading that remembers where every value sits, so validation errors can name a line.

PyYAML's ``safe_load`` forgets positions; here the document is composed into nodes and built by hand, with
a path -> (line, column) table on the side. Duplicate keys, which PyYAML silently collapses, are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

# A place in the document: mapping keys (plain YAML scalars: a key may be a number, a boolean or null) and
# list indexes.
Path = tuple[str | int | float | bool | None, ...]


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class MarkedDocument:
    data: Any
    positions: dict[Path, Position] = field(default_factory=dict)
    duplicates: list[tuple[Path, str]] = field(default_factory=list)

    def locate(self, loc: tuple[Any, ...]) -> tuple[Path, Position | None]:
        """The deepest known path along ``loc`` and its position.

        Validation locations may hold entries that are not in the document (union tags, ``[key]``); those are
        skipped, so a missing field resolves to the mapping that lacks it.
        """
        path: Path = ()
        for part in loc:
            candidate = (*path, part)
            if candidate in self.positions:
                path = candidate
            elif isinstance(part, str) and part.isdigit() and (*path, int(part)) in self.positions:
                path = (*path, int(part))
        return path, self.positions.get(path, self.positions.get(()))


class YamlSyntaxError(ValueError):
    def __init__(self, message: str, position: Position | None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


def load_marked(text: str) -> MarkedDocument:
    """Parse one YAML document; raises :class:`YamlSyntaxError` (with a position) on malformed YAML."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return MarkedDocument(data=None, positions={(): Position(1, 1)})
        document = MarkedDocument(data=None)
        document.data = _build(node, (), document, loader)
        return document
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = Position(mark.line + 1, mark.column + 1) if mark else None
        raise YamlSyntaxError(f"not valid YAML: {exc.problem or exc}", position) from exc
    finally:
        loader.dispose()


def _position(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, path: Path, document: MarkedDocument, loader: yaml.SafeLoader) -> Any:
    document.positions.setdefault(path, _position(node))
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys like safe_load does
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.MarkedYAMLError(
                    problem="mapping keys must be plain values", problem_mark=key_node.start_mark
                )
            if key in out:
                document.duplicates.append(((*path, key), f"key '{key}' appears twice in this mapping"))
            # A key's own line is the most useful place for errors about it (unknown field, bad value).
            document.positions[(*path, key)] = _position(key_node)
            out[key] = _build(value_node, (*path, key), document, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, (*path, index), document, loader) for index, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
