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
        sparks = {case.id: sparkline_svg(trajectory_chart(database, case.id, settings)) for case in cases}
        return page(
            request, "dashboard.html", who, cases=cases, sparks=sparks, specializations=open_specializations()
        )

    @app.post("/cases")
    def new_case(request: Request, who: Post, specialization: Annotated[str, Form()]) -> Response:
        from jedi_academy.loop.protocol import OpenCase, open_case_with_baseline, pool_llms

        if specialization not in {s["id"] for s in open_specializations()}:
            raise HTTPException(400, "no cases can be opened in this specialization yet")
        checkpoint = data.patient_checkpoint(database, specialization)
        # the service of `academy case open`: the protocol is fixed and the baseline measured before the case
        # exists, with the sessions' model (the pool), in this therapist's turn of the shared model
        ticket = state.model_queue.admit(who.therapist_id or "")
        with state.model_queue.turn(ticket), state.load_lock:
            opening = OpenCase(who.therapist_id or "", specialization, checkpoint=checkpoint)
            case = open_case_with_baseline(settings, database, opening, llms=pool_llms(state.pool))
        return redirect(request, f"/cases/{case.id}")

    @app.get("/cases/{case_id}", response_class=HTMLResponse)
    def case_page(request: Request, case_id: str, who: Me) -> Response:
        from jedi_academy.loop.trajectory import case_trajectory
        from jedi_academy.sessions.loop_gate import session_blocked

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
            blocked=session_blocked(database, case_id, settings.data_dir),
        )

    @app.post("/cases/{case_id}/sessions")
    def start_session(request: Request, case_id: str, who: Post) -> Response:
        import secrets

        from jedi_academy.sessions import SessionOptions, SessionRunner
        from jedi_academy.sessions.loop_gate import LoopNotFinishedError

        owned_case(who, case_id)
        options = SessionOptions(max_tokens=config.max_tokens)
        seed = secrets.randbelow(2**31) if config.session_seed is None else config.session_seed
        try:
            with state.load_lock:  # loading a checkpoint's model, once (generation goes through the queue)
                runner = SessionRunner.start(database, state.pool, case_id, seed=seed, options=options)
        except LoopNotFinishedError as exc:  # the message `academy session start` prints
            raise HTTPException(409, exc.message) from exc
        return redirect(request, f"/sessions/{runner.session_id}")

    @app.post("/cases/{case_id}/close")
    def close(request: Request, case_id: str, who: Post) -> Response:
        """The service of `academy case close`: the final measurement, the comparison with the baseline."""
        from jedi_academy.loop.closing import close_case_now

        owned_case(who, case_id)
        try:
            with state.load_lock:  # loads the case's checkpoint, like starting a session
                close_case_now(settings, database, case_id)
        except AcademyError as exc:  # already closed, an unfinished session, the data directory busy
            raise HTTPException(409, exc.message) from exc
        return redirect(request, f"/cases/{case_id}")

    @app.post("/cases/{case_id}/archive")
    def archive(request: Request, case_id: str, who: Post) -> Response:
        """The service of `academy case archive`: the case leaves the dashboard and its page."""
        from jedi_academy.sessions.housekeeping import archive_case

        owned_case(who, case_id)
        try:
            archive_case(database, case_id)
        except AcademyError as exc:  # an unfinished session
            raise HTTPException(409, exc.message) from exc
        return redirect(request, "/")

    @app.post("/sessions/{session_id}/archive")
    def archive_session(request: Request, session_id: str, who: Post) -> Response:
        """The service of `academy session archive`: the session leaves its case's page."""
        from jedi_academy.sessions.housekeeping import archive_session as archive_one

        row = routes.owned_session(who, session_id)
        try:
            archive_one(database, session_id)
        except AcademyError as exc:  # not ended yet
            raise HTTPException(409, exc.message) from exc
        return redirect(request, f"/cases/{row.case_id}")

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
