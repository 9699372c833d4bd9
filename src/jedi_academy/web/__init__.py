"""The therapists' web app (FastAPI, Jinja2, HTMX): accounts, cases, sessions with streamed replies,
trajectories, checkpoint branching and the improvement loop's jobs.

    create_app(settings, database, pool, WebConfig(secret=...), jobs=None) -> FastAPI
    `academy web [--host 127.0.0.1] [--port 8000]` serves it.
"""
