"""case protocol: the measurement protocol fixed at `case open` and the baseline runs measured then (issue 26)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # both nullable: cases opened before protocols keep NULL and are shown as such
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("protocol", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("baseline_runs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("baseline_runs")
        batch.drop_column("protocol")
