"""The signed-in therapist's own portfolio: build, view, download.

FastAPI resolves the routes' annotations at runtime: no postponed annotations in this module."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from jedi_academy.errors import AcademyError
from jedi_academy.hooks import hookimpl
from jedi_academy.loop.session_feedback import case_feedback
from jedi_academy.web.app import Visitor

if TYPE_CHECKING:
    from jedi_academy.web.app import Routes


@hookimpl
def register_routes(routes: "Routes") -> None:
    app = routes.app
    database = routes.database
    settings = routes.settings
    signed_in = routes.signed_in  # a page of the signed-in therapist
    signed_in_post = routes.signed_in_post  # a form it sends (with its CSRF token)
    page = routes.page
    redirect = routes.redirect

    @app.get("/portfolio", response_class=HTMLResponse)
    def portfolio_page(request: Request, who: Annotated[Visitor, signed_in]) -> Response:
        from jedi_academy.sessions import list_cases
        from jedi_academy.web.portfolio import bundle_summary, current_bundle

        bundle = current_bundle(settings, who.therapist_id or "")
        built = bundle_summary(bundle) if bundle is not None else None
        feedback = [case_feedback(database, case.id) for case in list_cases(database, who.therapist_id)]
        return page(request, "portfolio.html", who, built=built, feedback=feedback)

    @app.post("/portfolio")
    def build_portfolio(request: Request, who: Annotated[Visitor, signed_in_post]) -> Response:
        from jedi_academy.web.portfolio import build_for

        try:
            build_for(settings, database, who.therapist_id or "")
        except AcademyError as exc:
            return page(request, "portfolio.html", who, status=400, built=None, feedback=[], error=str(exc))
        return redirect(request, "/portfolio")

    def own_bundle(who: Visitor) -> Path:
        from jedi_academy.web.portfolio import current_bundle

        bundle = current_bundle(settings, who.therapist_id or "")
        if bundle is None:
            raise HTTPException(404, "no portfolio built yet")
        return bundle

    @app.get("/portfolio/view", response_class=HTMLResponse)
    def view_portfolio(who: Annotated[Visitor, signed_in]) -> Response:
        from jedi_academy.portfolio.render import with_linked_stylesheet

        html = (own_bundle(who) / "index.html").read_text(encoding="utf-8")
        # the bundle's page inlines its stylesheet; the app's CSP allows only style files from 'self'
        html = with_linked_stylesheet(html, "/portfolio/style.css")
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    @app.get("/portfolio/style.css")
    def portfolio_stylesheet() -> Response:
        from jedi_academy.portfolio.render import stylesheet

        return Response(stylesheet(), media_type="text/css")

    @app.get("/portfolio/download")
    def download_portfolio(who: Annotated[Visitor, signed_in]) -> Response:
        from jedi_academy.web.portfolio import bundle_zip

        bundle = own_bundle(who)
        top = f"portfolio-{who.therapist_id}"
        return Response(
            bundle_zip(bundle, top),
            media_type="application/zip",
            headers={
                "content-disposition": f'attachment; filename="{top}.zip"',
                "cache-control": "no-store",
            },
        )
