"""recommendations record the patient's preference mass, the decision (invalid_preference included) and the
teacher's judgement of accepted advice

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 16:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.add_column(sa.Column("preference_mass", sa.Float(), nullable=True))
        batch.add_column(sa.Column("decision", sa.String(length=24), nullable=True))
        batch.add_column(sa.Column("advice", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_column("advice")
        batch.drop_column("decision")
        batch.drop_column("preference_mass")
