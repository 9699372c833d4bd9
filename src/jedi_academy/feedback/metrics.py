"""Agreement between two codings of the same utterances: accuracy, Cohen's kappa, confusion matrix."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any


def confusion_matrix(
    gold: Sequence[Hashable], predicted: Sequence[Hashable], classes: Sequence[Hashable]
) -> list[list[int]]:
    """Rows are the gold classes, columns the predicted ones, both in ``classes`` order."""
    position = {name: index for index, name in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for truth, guess in zip(gold, predicted, strict=True):
        matrix[position[truth]][position[guess]] += 1
    return matrix


def kappa_from_matrix(matrix: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa; None when chance agreement is already perfect (both codings use one class only)."""
    n = sum(sum(row) for row in matrix)
    if n == 0:
        return None
    observed = sum(matrix[i][i] for i in range(len(matrix))) / n
    rows = [sum(row) / n for row in matrix]
    columns = [sum(row[j] for row in matrix) / n for j in range(len(matrix))]
    expected = sum(r * c for r, c in zip(rows, columns, strict=True))
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


def cohen_kappa(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> float | None:
    return kappa_from_matrix(confusion_matrix(gold, predicted, classes))


@dataclass
class Agreement:
    """How one coder agrees with the gold codes."""

    name: str
    n: int
    accuracy: float | None
    kappa: float | None
    kappa_per_class: dict[str, float | None]  # one class against the rest
    classes: list[str]  # row and column order of the confusion matrix
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def agreement(name: str, gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> Agreement:
    """``classes`` must name every label in ``gold`` and ``predicted`` (an extra predicted-only label such as
    "uncoded" is allowed: it never agrees and adds a column of misses)."""
    labels = list(classes)
    matrix = confusion_matrix(gold, predicted, labels)
    n = len(gold)
    hits = sum(1 for truth, guess in zip(gold, predicted, strict=True) if truth == guess)
    per_class = {}
    for label in labels:
        if label not in gold and label not in predicted:
            continue
        binary_gold = [truth == label for truth in gold]
        binary_pred = [guess == label for guess in predicted]
        per_class[label] = kappa_from_matrix(confusion_matrix(binary_gold, binary_pred, [True, False]))
    return Agreement(
        name=name,
        n=n,
        accuracy=hits / n if n else None,
        kappa=kappa_from_matrix(matrix),
        kappa_per_class=per_class,
        classes=labels,
        confusion=matrix,
    )
