"""Persistence: a relational database (SQLite by default, PostgreSQL supported) plus a content-addressed
artifact folder for large files. Every stage stores through this package."""

from jedi_academy.store.artifacts import ArtifactStore
from jedi_academy.store.db import Database, open_database
from jedi_academy.store.lock import DataDirBusyError, case_lock, data_dir_lock

__all__ = ["ArtifactStore", "DataDirBusyError", "Database", "case_lock", "data_dir_lock", "open_database"]
