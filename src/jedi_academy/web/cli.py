"""``academy web``: serve the therapist's web app (light imports: this module loads on every CLI start)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from jedi_academy.cli_kit import JsonFlag, print_json
from jedi_academy.cli_kit import database as _database
from jedi_academy.cli_kit import settings as _settings
from jedi_academy.errors import ConfigError
from jedi_academy.hooks import ExtraOption, Section, hookimpl

if TYPE_CHECKING:
    from jedi_academy.cli_kit import CommandRegistry
    from jedi_academy.sessions.views import TherapistView


@hookimpl
def register_commands(commands: CommandRegistry) -> None:
    commands.command("web")(web_command)
    commands.command("invite")(invite_command)


# Accounts belong to this stage: it extends the sessions stage's `therapist add` with --email and an invite
# link through the sessions stage's extension points (sessions cannot import the web stage, above it).
_EMAIL = ExtraOption(
    "email",
    Annotated[str | None, typer.Option(help="Create a web account and print its one-time invite link.")],
    None,
)
_URL = ExtraOption(
    "url", Annotated[str, typer.Option(help="The web app's address, for the invite link.")], "http://127.0.0.1:8000"
)


@hookimpl
def command_options(command: str) -> list[ExtraOption] | None:
    return [_EMAIL, _URL] if command == "therapist add" else None


@hookimpl
def therapist_add_check(database: Any, options: dict[str, Any]) -> None:
    from jedi_academy.errors import AcademyError
    from jedi_academy.web.accounts import email_taken, normalise_email

    if options.get("email") is None:
        return
    email = normalise_email(options["email"])  # refused before the therapist is written
    if email_taken(database, email):
        raise AcademyError(f"the email {email} already has an account")


@hookimpl
def therapist_added(database: Any, therapist: TherapistView, options: dict[str, Any]) -> Section | None:
    from jedi_academy.web.accounts import normalise_email

    if options.get("email") is None:
        return None
    email = normalise_email(options["email"])
    link = invite_link(database, therapist.id, email, options.get("url") or "http://127.0.0.1:8000")
    return Section(
        {"email": email, "invite_url": link}, [f"invite link (works once, for 7 days): {link}"]
    )


def invite_command(
    ctx: typer.Context,
    therapist: Annotated[str, typer.Argument(help="Therapist name or id.")],
    email: Annotated[
        str, typer.Option(help="Their sign-in email (kept if omitted for an existing account).")
    ] = "",
    url: Annotated[str, typer.Option(help="The web app's address.")] = "http://127.0.0.1:8000",
    as_json: JsonFlag = False,
) -> None:
    """A new one-time invite link for an existing therapist (a lost or expired invite, a password reset)."""
    from jedi_academy.web.accounts import account_email

    database = _database(ctx)
    therapist_id, name, stored = account_email(database, therapist)
    email = email or stored or ""
    if not email:
        raise ConfigError(f"therapist {name} has no account yet", "pass --email")
    link = invite_link(database, therapist_id, email, url)
    if as_json:
        print_json({"therapist_id": therapist_id, "name": name, "email": email, "invite_url": link})
    else:
        typer.echo(f"invite link for {name} (works once, for 7 days): {link}")


def web_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    public: Annotated[
        bool,
        typer.Option(
            "--i-understand-this-is-public",
            help="Allow a non-loopback --host (put HTTPS in front and pass --secure-cookies).",
        ),
    ] = False,
    secure_cookies: Annotated[
        bool, typer.Option(help="Mark cookies Secure (the site is served over HTTPS).")
    ] = False,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            help="Take the client address from X-Forwarded-For, only on requests from --forwarded-allow-ips."
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="The proxy addresses trusted with --proxy-headers (comma-separated).")
    ] = "127.0.0.1",
    allow_registration: Annotated[bool, typer.Option(help="Let visitors create their own accounts.")] = False,
    public_url: Annotated[
        str | None, typer.Option(help="The address therapists use (default http://HOST:PORT).")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Longest patient reply, in tokens.", min=1)] = 200,
    batch_size: Annotated[
        int,
        typer.Option(help="transformers backend: replies that wait together, generated as one batch.", min=1),
    ] = 8,
    concurrency: Annotated[
        int,
        typer.Option(help="OpenAI-compatible backend: model requests in flight at once.", min=1),
    ] = 8,
    feedback: Annotated[
        bool,
        typer.Option("--feedback/--no-feedback", help="The teacher's MITI feedback when a session ends."),
    ] = True,
    worker: Annotated[
        bool,
        typer.Option(help="Also run a loop worker in this process (a laptop; GPUs run `academy worker`)."),
    ] = False,
) -> None:
    """Serve the therapists' web app (sessions, cases, trajectories, loop jobs)."""
    from jedi_academy.serving.network import is_loopback

    if not is_loopback(host) and not public:
        raise ConfigError(
            f"--host {host} is reachable from other machines",
            "serve on 127.0.0.1 behind an HTTPS proxy, "
            "or pass --i-understand-this-is-public --secure-cookies",
        )
    if public and not secure_cookies:  # a public site is served over HTTPS, where cookies must be Secure
        raise typer.BadParameter("needs --secure-cookies", param_hint="--i-understand-this-is-public")
    import logging

    import uvicorn

    from jedi_academy.sessions import ModelPool
    from jedi_academy.store import open_database
    from jedi_academy.web.app import WebConfig, create_app
    from jedi_academy.web.jobs import loop_jobs
    from jedi_academy.web.security import load_secret

    settings = _settings(ctx)
    database = open_database(settings)
    config = WebConfig(
        secret=load_secret(settings.data_dir),
        allow_registration=allow_registration,
        secure_cookies=secure_cookies,
        max_tokens=max_tokens,
        batch_size=batch_size,
        concurrency=concurrency,
        feedback=feedback,
        public_url=(public_url or f"http://{host}:{port}").rstrip("/"),
    )
    jobs = loop_jobs(settings, database)
    app = create_app(settings, database, ModelPool(settings), config, jobs=jobs)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if worker:
        start_worker(settings)
    typer.echo(f"Jedi Academy web app on {config.public_url} (Ctrl-C stops)")
    # uvicorn's access log prints raw paths, and invite links carry a token: the app logs route templates
    # X-Forwarded-For decides the address that sign-in throttling counts: trusted only from a named proxy
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        server_header=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips if proxy_headers else None,
    )


def invite_link(database: Any, therapist_id: str, email: str, public_url: str) -> str:
    from jedi_academy.web.accounts import invite

    token = invite(database, therapist_id, email)
    return f"{public_url.rstrip('/')}/invite/{token}"


def start_worker(settings: Any) -> Any:
    """A loop worker in a daemon thread of this process: it takes queued jobs like `academy worker` does."""
    import logging
    import threading

    from jedi_academy.loop.jobs import run_worker

    log = logging.getLogger("jedi_academy.web.worker")
    thread = threading.Thread(
        target=run_worker, args=(settings,), kwargs={"echo": log.info}, name="loop-worker", daemon=True
    )
    thread.start()
    return thread
