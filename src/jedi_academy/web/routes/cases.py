"""The dashboard and the case pages: open a case, start a session, branch.

FastAPI resolves the routes' annotations at runtime: no postponed annotations in this module."""

from typing import TYPE_CHECKING, Annotated

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from jedi_academy.errors import AcademyError
from jedi_academy.hooks import hookimpl
from jedi_academy.loop.trajectory import checkpoint_tree, trajectory_chart
from jedi_academy.web import data
from jedi_academy.web.charts import sparkline_svg, trajectory_svg

if TYPE_CHECKING:
    from jedi_academy.web.app import Routes


@hookimpl
def register_routes(routes: "Routes") -> None:
    app = routes.app
    state = routes.state
    database = routes.database
    settings = routes.settings
    config = routes.config
    Me = routes.Me
    Post = routes.Post
    page = routes.page
    redirect = routes.redirect
    owned_case = routes.owned_case

    def open_specializations() -> list[dict[str, str]]:
        return data.open_specializations(database)

    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request, who: Me) -> Response:
        from jedi_academy.sessions import list_cases

        cases = list_cases(database, who.therapist_id)
        for case in cases:
            case["spark"] = sparkline_svg(trajectory_chart(database, case["id"], settings))
        return page(request, "dashboard.html", who, cases=cases, specializations=open_specializations())

    @app.post("/cases")
    def new_case(request: Request, who: Post, specialization: Annotated[str, Form()]) -> Response:
        from jedi_academy.sessions import open_case

        if specialization not in {s["id"] for s in open_specializations()}:
            raise HTTPException(400, "no cases can be opened in this specialization yet")
        checkpoint = data.patient_checkpoint(database, specialization)
        case = open_case(database, who.therapist_id or "", specialization, checkpoint=checkpoint)
        return redirect(request, f"/cases/{case['id']}")

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str, who: Me) -> Response:
        from jedi_academy.loop.trajectory import case_trajectory

        owned_case(who, case_id)
        case = case_trajectory(database, case_id, settings.data_dir)  # sessions with their loops
        trajectory = trajectory_chart(database, case_id, settings)
        return page(
            request,
            "case.html",
            who,
            case=case,
            trajectory=trajectory,
            chart=trajectory_svg(trajectory),
            tree=checkpoint_tree(database, case_id),
            active=next((s for s in case["sessions"] if s["status"] != "ended"), None),
        )

    @app.post("/cases/{case_id}/sessions")
    def start_session(request: Request, case_id: str, who: Post) -> Response:
        import secrets

        from jedi_academy.sessions import SessionOptions, SessionRunner

        owned_case(who, case_id)
        options = SessionOptions(max_tokens=config.max_tokens)
        seed = secrets.randbelow(2**31) if config.session_seed is None else config.session_seed
        with state.load_lock:  # loading a checkpoint's model, once (generation goes through the queue)
            runner = SessionRunner.start(database, state.pool, case_id, seed=seed, options=options)
        return redirect(request, f"/sessions/{runner.session_id}")

    @app.post("/cases/{case_id}/branch")
    def branch(request: Request, case_id: str, who: Post, checkpoint: Annotated[str, Form()]) -> Response:
        """The service of `academy case branch`: the same CaseBranch row and naming rule."""
        from jedi_academy.loop.branches import branch_case

        owned_case(who, case_id)
        if checkpoint not in {node["id"] for node in checkpoint_tree(database, case_id)}:
            raise HTTPException(404, "no such checkpoint in this case")
        try:
            branch_case(database, case_id, data_dir=settings.data_dir, at=checkpoint)
        except AcademyError as exc:  # an unfinished session, a checkpoint no loop of the case made
            raise HTTPException(409, exc.message) from exc
        return redirect(request, f"/cases/{case_id}")
