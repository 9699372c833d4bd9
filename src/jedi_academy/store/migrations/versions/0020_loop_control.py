"""the loop's no-therapist control: a checkpoint's role (patient or control) and each loop's control arm

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("checkpoints") as batch:
        # "control": a loop's no-therapist child, never a case's patient nor offered for new cases
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="patient"))
    with op.batch_alter_table("loop_runs") as batch:
        batch.add_column(sa.Column("control", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("loop_runs") as batch:
        batch.drop_column("control")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("role")
