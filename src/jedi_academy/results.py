"""The shape every service result shares: a frozen dataclass whose ``as_dict()`` is its ``--json`` form.

Services return these objects; the command line prints ``as_dict()`` (``cli_kit.print_json`` does it for a
result or a list of results) and the web templates receive the objects themselves (Jinja reads ``x.field``
from a dataclass as from a dict), so the two faces show one value.
"""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from typing import Any


class Result:
    """Mixin for a service's ``@dataclass(frozen=True)`` result.

    ``as_dict()`` turns nested results, lists and dicts of them into plain JSON-ready values. A result whose
    ``--json`` form differs from its fields (a renamed or computed key) overrides ``as_dict``.
    """

    def as_dict(self) -> dict[str, Any]:
        assert is_dataclass(self), f"{type(self).__name__} must be a dataclass"
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}


def plain(value: Any) -> Any:
    """``value`` with every result inside it replaced by its ``as_dict()``."""
    if isinstance(value, Result):
        return value.as_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
