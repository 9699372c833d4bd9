"""Sign-in, sign-out, invites, registration and the account page.

FastAPI resolves the routes' annotations at runtime: no postponed annotations in this module."""

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jedi_academy.errors import AcademyError
from jedi_academy.hooks import hookimpl
from jedi_academy.web import accounts
from jedi_academy.web.app import Visitor
from jedi_academy.web.security import COOKIE

if TYPE_CHECKING:
    from jedi_academy.web.app import Routes


@hookimpl
def register_routes(routes: "Routes") -> None:
    app = routes.app
    database = routes.database
    config = routes.config
    visitor = routes.visitor
    csrf = routes.csrf
    signed_in = routes.signed_in  # a page of the signed-in therapist
    signed_in_post = routes.signed_in_post  # a form it sends (with its CSRF token)
    page = routes.page
    set_login_cookie = routes.set_login_cookie

    def client_address(request: Request) -> str:
        return request.client.host if request.client else "?"

    def throttled(request: Request, who: Visitor, template: str, wait: int, **context: Any) -> Response:
        response = page(
            request,
            template,
            who,
            status=429,
            error=f"Too many failed tries. Wait {wait} seconds and try again.",
            **context,
        )
        response.headers["retry-after"] = str(wait)
        return response

    def local_path(wanted: str | None) -> str:
        """Where to go after signing in: a path on this site only (never another host: no open redirect)."""
        if wanted and wanted.startswith("/") and not wanted.startswith(("//", "/\\")):
            return wanted
        return "/"

    @app.get("/login", response_class=HTMLResponse)
    def login_form(
        request: Request, who: Annotated[Visitor, Depends(visitor)], next: str | None = None
    ) -> Response:
        if who.therapist_id is not None:
            return RedirectResponse(local_path(next), status_code=303)
        return page(request, "login.html", who, next=local_path(next))

    @app.post("/login")
    def login(
        request: Request,
        who: Annotated[Visitor, Depends(csrf)],
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        address, key = client_address(request), accounts.login_key(email)
        wait = accounts.wait_seconds(database, key, address, config.rate_limit)
        if wait:
            return throttled(request, who, "login.html", wait, email=email[: accounts.MAX_EMAIL], next=next)
        therapist_id = accounts.authenticate(database, email[: accounts.MAX_EMAIL], password)
        accounts.record_attempt(database, key, address, therapist_id is not None, config.rate_limit)
        if therapist_id is None:
            shown = email[: accounts.MAX_EMAIL]
            wrong = "Wrong email or password."
            return page(request, "login.html", who, status=401, error=wrong, email=shown, next=next)
        # a new session id at login: a session id known before sign-in is worth nothing afterwards
        if who.login is not None:
            accounts.drop_session(database, who.login.token)
        fresh = accounts.new_session(database, therapist_id)
        response = RedirectResponse(local_path(next), status_code=303)
        set_login_cookie(response, fresh.token)
        return response

    @app.post("/logout")
    def logout(request: Request, who: Annotated[Visitor, Depends(csrf)]) -> Response:
        if who.login is not None:
            accounts.drop_session(database, who.login.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/invite/{token}", response_class=HTMLResponse)
    def invite_form(request: Request, token: str, who: Annotated[Visitor, Depends(visitor)]) -> Response:
        found = accounts.invited_account(database, token)
        if found is None:
            return page(
                request,
                "message.html",
                who,
                status=404,
                title="Invite not valid",
                text="This invite link is invalid, used or expired; ask your operator for a new one.",
            )
        return page(request, "invite.html", who, name=found[0], email=found[1], token=token)

    @app.post("/invite/{token}")
    def accept_invite(
        request: Request,
        token: str,
        who: Annotated[Visitor, Depends(csrf)],
        password: Annotated[str, Form()],
        password_again: Annotated[str, Form()],
    ) -> Response:
        found = accounts.invited_account(database, token)
        if found is None:
            raise HTTPException(404, "this invite link is invalid, used or expired")
        if password != password_again:
            return page(
                request,
                "invite.html",
                who,
                status=400,
                name=found[0],
                email=found[1],
                token=token,
                error="The two passwords differ.",
            )
        try:
            therapist_id = accounts.accept_invite(database, token, password)
        except AcademyError as exc:
            return page(
                request,
                "invite.html",
                who,
                status=400,
                name=found[0],
                email=found[1],
                token=token,
                error=exc.message,
            )
        if who.login is not None:
            accounts.drop_session(database, who.login.token)
        fresh = accounts.new_session(database, therapist_id)
        accounts.drop_other_sessions(database, therapist_id, fresh.token)  # an invite also resets a password
        response = RedirectResponse("/", status_code=303)
        set_login_cookie(response, fresh.token)
        return response

    @app.get("/register", response_class=HTMLResponse)
    def register_form(request: Request, who: Annotated[Visitor, Depends(visitor)]) -> Response:
        if not config.allow_registration:
            raise HTTPException(404, "self-registration is off on this server")
        return page(request, "register.html", who)

    @app.post("/register")
    def register(
        request: Request,
        who: Annotated[Visitor, Depends(csrf)],
        name: Annotated[str, Form()],
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
    ) -> Response:
        if not config.allow_registration:
            raise HTTPException(404, "self-registration is off on this server")
        name, email = name[: accounts.MAX_NAME + 1], email[: accounts.MAX_EMAIL + 1]
        if not accounts.registration_allowed(database, client_address(request), config.rate_limit):
            wait = int(config.rate_limit.window.total_seconds())
            return throttled(request, who, "register.html", wait, name=name, email=email)
        try:
            accounts.register(database, name, email, password)
        except AcademyError as exc:
            return page(request, "register.html", who, status=400, error=exc.message, name=name, email=email)
        # the same answer whether the email was free or already had an account: no account enumeration
        return page(
            request,
            "message.html",
            who,
            title="Registration received",
            text="If this email address had no account, it has one now: sign in with it and your password. "
            "If it already had one, sign in as before (or ask your operator for a new invite).",
        )

    def with_current_password(request: Request, who: Visitor, act: Callable[[], None]) -> Response | None:
        """Run ``act``, which checks the signed-in therapist's current password, under the password's rate
        limit: the account page with the error (a wrong password counted as a failed attempt), or None."""
        therapist_id, address = who.therapist_id or "", client_address(request)
        key = accounts.password_key(therapist_id)
        wait = accounts.wait_seconds(database, key, address, config.rate_limit)
        if wait:
            return throttled(request, who, "account.html", wait)
        try:
            act()
        except accounts.WrongPassword as exc:
            accounts.record_attempt(database, key, address, False, config.rate_limit)
            return page(request, "account.html", who, status=400, error=exc.message)
        except AcademyError as exc:
            return page(request, "account.html", who, status=400, error=exc.message)
        accounts.record_attempt(database, key, address, True, config.rate_limit)
        return None

    @app.get("/account", response_class=HTMLResponse)
    def account(request: Request, who: Annotated[Visitor, signed_in]) -> Response:
        return page(request, "account.html", who)

    @app.post("/account/password")
    def change_password(
        request: Request,
        who: Annotated[Visitor, signed_in_post],
        current: Annotated[str, Form()],
        new: Annotated[str, Form()],
        new_again: Annotated[str, Form()],
    ) -> Response:
        if new != new_again:
            return page(request, "account.html", who, status=400, error="The two new passwords differ.")
        therapist_id = who.therapist_id or ""
        refused = with_current_password(
            request, who, lambda: accounts.change_password(database, therapist_id, current, new)
        )
        if refused is not None:
            return refused
        assert who.login is not None  # a signed-in route
        accounts.drop_other_sessions(database, therapist_id, who.login.token)
        return page(request, "account.html", who, notice="Password changed; other browsers were signed out.")

    @app.post("/account/disable")
    def disable_account(
        request: Request, who: Annotated[Visitor, signed_in_post], current: Annotated[str, Form()]
    ) -> Response:
        """The therapist closes their own account (as `academy therapist disable` does): every browser is
        signed out, nothing they made is deleted, and only an operator can enable it again."""
        from jedi_academy.sessions.housekeeping import disable_therapist

        therapist_id = who.therapist_id or ""
        refused = with_current_password(
            request, who, lambda: accounts.verify_current_password(database, therapist_id, current)
        )
        if refused is not None:
            return refused
        disable_therapist(database, therapist_id)  # also ends every login, this one included
        response = page(
            request,
            "message.html",
            Visitor(login=None, anonymous_csrf=who.csrf),
            title="Account disabled",
            text="Your account is disabled and every browser is signed out. Your cases, sessions and "
            "portfolio records stay as they were; an operator can enable the account again "
            "(`academy therapist disable NAME --undo`).",
        )
        response.delete_cookie(COOKIE, path="/")
        return response
