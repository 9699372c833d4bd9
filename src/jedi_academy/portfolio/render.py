"""The static portfolio page: one self-contained HTML file (no scripts, no server, charts as inline SVG).

The page is a pure function of ``portfolio.json``, so ``verify`` re-renders it and refuses a page that says
anything the signed document does not.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT, PAD = 360, 180, 34


def trajectory_svg(case: dict[str, Any]) -> Markup:
    """Baseline and session-wise totals with their 95% intervals; an invalid measurement is a gap in the line
    and a labelled cross below the axis."""
    points: list[tuple[str, dict[str, Any] | None]] = [("B", case["figures"]["baseline"])]
    points += [(str(s["number"]), s["score"]) for s in case["figures"]["sessions"]]
    values = [
        v for _, s in points if s and s["valid"] for v in (s["total"], *(c for c in s["ci"] if c is not None))
    ]
    # the axis spans the instrument's whole range, so a small change looks small
    low, high = instrument_range(case["instrument"])
    low, high = min([low, *values]), max([high, *values])
    if high - low < 1e-9:
        low, high = low - 1, high + 1
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)

    def y(value: float) -> float:
        return PAD / 2 + (HEIGHT - 1.5 * PAD) * (high - value) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{_escape(case["instrument"])} total by session">',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD / 2}" y2="{HEIGHT - PAD}" stroke="#999"/>',
        f'<text x="2" y="{y(high) + 4:.1f}" font-size="10">{high:.1f}</text>',
        f'<text x="2" y="{y(low) + 4:.1f}" font-size="10">{low:.1f}</text>',
    ]
    line = []
    for index, (label, point) in enumerate(points):
        x = PAD + index * step
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD / 2 + 4}" font-size="10" text-anchor="middle">{label}</text>'
        )
        if not point or not point["valid"]:
            # below the axis and its session label, never at a height that reads as a score
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 3}" font-size="9" fill="#a11" text-anchor="middle">'
                "\u00d7 invalid</text>"
            )
            continue
        ci_low, ci_high = point["ci"]
        if ci_low is not None and ci_high is not None:
            parts.append(
                f'<line x1="{x:.1f}" y1="{y(ci_low):.1f}" x2="{x:.1f}" y2="{y(ci_high):.1f}" stroke="#8aa" '
                'stroke-width="3"/>'
            )
        parts.append(f'<circle cx="{x:.1f}" cy="{y(point["total"]):.1f}" r="3.5" fill="#245"/>')
        line.append(f"{x:.1f},{y(point['total']):.1f}")
    if len(line) > 1:
        parts.insert(1, f'<polyline points="{" ".join(line)}" fill="none" stroke="#245" stroke-width="1.5"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def instrument_range(instrument: str) -> tuple[float, float]:
    """Lowest and highest possible total of the instrument (0..1 when this installation does not know it)."""
    from jedi_academy.errors import AcademyError
    from jedi_academy.instruments import load_instrument
    from jedi_academy.instruments.checks import total_range

    try:
        low, high = total_range(load_instrument(instrument).definition)
    except AcademyError:
        return 0.0, 1.0
    return (low, high) if high > low else (0.0, 1.0)


def _escape(text: str) -> str:
    return str(Markup.escape(text))


def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f}%"


STYLE_OPEN, STYLE_CLOSE = "<style>\n", "</style>"


def stylesheet() -> str:
    """The page's CSS: inlined in ``index.html`` (a bundle is one self-contained page), served as a file by
    the web app, whose Content-Security-Policy allows no inline style."""
    from importlib.resources import files

    return files("jedi_academy.portfolio").joinpath("templates", "portfolio.css").read_text(encoding="utf-8")


def with_linked_stylesheet(page: str, href: str) -> str:
    """``page`` with its inline stylesheet replaced by a link to ``href`` (the same rules)."""
    inline = STYLE_OPEN + stylesheet() + STYLE_CLOSE
    if inline not in page:
        raise ValueError("the page does not carry the portfolio stylesheet")
    return page.replace(inline, f'<link rel="stylesheet" href="{href}">', 1)


def render_html(document: dict[str, Any]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    environment = Environment(loader=PackageLoader("jedi_academy.portfolio"), autoescape=select_autoescape())
    environment.filters["num"] = number
    environment.filters["share"] = share
    template = environment.get_template("portfolio.html")
    body = document["body"]
    return template.render(
        body=body,
        css=Markup(stylesheet()),
        signature=document["signature"],
        charts={case["case"]: trajectory_svg(case) for case in body["cases"]},
    )


def render_verifier(public_key: str, name: str, url: str) -> str:
    """The self-contained verifier page (``academy portfolio verifier``): the academy's key and name built in,
    WebCrypto Ed25519 and SHA-256, no network and no external script."""
    import json

    from jinja2 import Environment, PackageLoader, select_autoescape

    from jedi_academy.portfolio.keys import fingerprint

    config = {"public_key": public_key, "fingerprint": fingerprint(public_key), "name": name, "url": url}
    environment = Environment(loader=PackageLoader("jedi_academy.portfolio"), autoescape=select_autoescape())
    return environment.get_template("verifier.html").render(
        public_key=public_key,
        fingerprint=config["fingerprint"],
        name=name,
        url=url,
        # inside <script>: JSON with "<" escaped, so no text can close the element
        config=Markup(json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")),
    )
