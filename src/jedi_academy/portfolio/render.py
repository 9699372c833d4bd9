"""The static portfolio page: one self-contained HTML file (no scripts, no server, charts as inline SVG).

The page is a pure function of ``portfolio.json``, so ``verify`` re-renders it and refuses a page that says
anything the signed document does not.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

WIDTH, HEIGHT = 360, 200


def trajectory_svg(case: dict[str, Any]) -> Markup:
    """Baseline and session-wise totals with their 95% intervals, by the one chart renderer
    (``jedi_academy.charts``); an invalid measurement is a gap in the line and a labelled cross below the
    axis. The axis spans the instrument's whole range, so a small change looks small."""
    from jedi_academy.charts import Chart, Point, Series, render_svg

    figures = [("B", case["figures"]["baseline"])]
    figures += [(str(s["number"]), s["score"]) for s in case["figures"]["sessions"]]
    points = []
    for index, (label, score) in enumerate(figures):
        if not score or not score["valid"]:
            reasons = (score or {}).get("invalid_reasons") or ["not_assessed"]
            points.append(Point(index, None, invalid=reasons, note=f"session {label}"))
            continue
        ci_low, ci_high = score["ci"]
        points.append(
            Point(index, score["total"], ci_low, ci_high, note=f"session {label}: {score['total']:.1f}")
        )
    values = [v for p in points for v in (p.y, p.low, p.high) if v is not None]
    low, high = instrument_range(case["instrument"])
    chart = Chart(
        title=f"{case['instrument']} total by session",
        series=[Series("total", points, band=False)],
        x_ticks=[(index, label) for index, (label, _) in enumerate(figures)],
        x_label="B = baseline, then after each session",
        y_range=(min([low, *values]), max([high, *values])),
        legend=False,
        width=WIDTH,
        height=HEIGHT,
    )
    return render_svg(chart)


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
