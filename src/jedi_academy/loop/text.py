"""Plain-text lines of the loop's results, shared by its commands and the sections it adds to
``case show``."""

from __future__ import annotations

from typing import Any


def scores_line(scores: dict[str, Any], loop: dict[str, Any] | None = None) -> str:
    """One line of instrument scores (with 95% intervals), and the change a loop made when ``loop`` is
    given."""
    parts = []
    for instrument, score in scores.items():
        if not score["valid"]:
            parts.append(f"{instrument} invalid ({'; '.join(score['problems'])})")
            continue
        text = f"{instrument} {score['total']:.2f} (95% {score['ci95'][0]:.2f}-{score['ci95'][1]:.2f})"
        if loop is not None:
            for label, key in (("vs previous", "change_vs_previous"), ("vs baseline", "change_vs_baseline")):
                change = loop[key][instrument]
                if change["classification"] is not None:
                    text += f", {label} {change['change']:+.2f} {change['classification']}"
        parts.append(text)
    return "; ".join(parts)
