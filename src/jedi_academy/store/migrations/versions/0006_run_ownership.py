"""run ownership: the process and host that run an ingest, so that a run whose process died is marked failed

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ingest_runs", sa.Column("owner_pid", sa.Integer(), nullable=True))
    op.add_column("ingest_runs", sa.Column("owner_host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ingest_runs") as batch:
        batch.drop_column("owner_host")
        batch.drop_column("owner_pid")
