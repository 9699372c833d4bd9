"""Persistence: a relational database (SQLite by default, PostgreSQL supported) plus a content-addressed
artifact folder for large files. Every stage stores through this package."""

from jedi_academy.store.artifacts import ArtifactStore
from jedi_academy.store.db import Database, open_database

__all__ = ["ArtifactStore", "Database", "open_database"]
