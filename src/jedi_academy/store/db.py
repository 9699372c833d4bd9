"""Engine, sessions and automatic migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from jedi_academy.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

    from jedi_academy.config import Settings

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _enable_sqlite_foreign_keys(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_db_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"database URL {url!r} is not valid", "use sqlite:///PATH or postgresql+psycopg://..."
        ) from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise ConfigError(
                f"database folder {folder} does not exist",
                "create it first, or fix --database-url / ACADEMY_DATABASE_URL",
            )
    try:
        engine = create_engine(url)
    except NoSuchModuleError as exc:
        raise ConfigError(
            f"database URL {parsed.render_as_string(hide_password=True)!r}: unknown database type",
            "use sqlite:///PATH or postgresql+psycopg://...",
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (a no-op when it is already there)."""
    from alembic import command

    if current_revision(engine) == head_revision():
        return
    command.upgrade(alembic_config(engine), "head")


class Database:
    """The academy database. Use ``with db.session() as s:``; the block is one transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_db_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        try:
            migrate(self.engine)
        except OperationalError as exc:
            raise ConfigError(
                f"cannot open the database at {make_url(self.url).render_as_string(hide_password=True)}: "
                f"{exc.orig}",
                "check --database-url / ACADEMY_DATABASE_URL and that the server is running",
            ) from exc
        except DatabaseError as exc:
            raise ConfigError(
                f"{make_url(self.url).render_as_string(hide_password=True)} is not an academy database: "
                f"{exc.orig}",
                "point --data-dir or --database-url at an academy database, or move the file away",
            ) from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(settings: Settings) -> Database:
    """Open the configured database and apply pending migrations. The data directory holding the default
    SQLite database is created; the folder of an explicit ``--database-url`` must exist."""
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.resolved_database_url)
    database.migrate()
    _mark_orphaned_runs(database)
    return database


def _mark_orphaned_runs(database: Database) -> None:
    from jedi_academy.store.ownership import mark_orphaned_runs

    with suppress(OperationalError):  # a read-only database: reading commands work, writing ones report it
        mark_orphaned_runs(database)
