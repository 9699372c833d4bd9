"""the right to be forgotten (erasures, retired checkpoints, erased personas) and housekeeping (archived cases
and sessions, disabled therapists): issue 29 points 4 and 5

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("pending", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("retired_by", sa.String(64), nullable=True))
    with op.batch_alter_table("personas") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    for table, column in (
        ("cases", "archived_at"),
        ("therapy_sessions", "archived_at"),
        ("therapists", "disabled_at"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table, column in (
        ("cases", "archived_at"),
        ("therapy_sessions", "archived_at"),
        ("therapists", "disabled_at"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
    with op.batch_alter_table("personas") as batch:
        batch.drop_column("erased_at")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("retired_by")
        batch.drop_column("retired_at")
    op.drop_table("erasures")
