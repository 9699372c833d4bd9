"""therapists, cases, therapy sessions, their turns and recommendations

Revision ID: 0004
Revises: 0001
Create Date: 2026-12-01 07:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "therapists",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("therapist_id", sa.String(length=64), nullable=False),
        sa.Column("specialization_id", sa.String(length=64), nullable=False),
        sa.Column("persona_id", sa.String(length=64), nullable=False),
        sa.Column("start_checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("current_checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("current_branch", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("intake", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["therapist_id"], ["therapists.id"]),
        sa.ForeignKeyConstraint(["specialization_id"], ["specializations.id"]),
        sa.ForeignKeyConstraint(["persona_id"], ["personas.id"]),
        sa.ForeignKeyConstraint(["start_checkpoint_id"], ["checkpoints.id"]),
        sa.ForeignKeyConstraint(["current_checkpoint_id"], ["checkpoints.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_therapist_id"), ["therapist_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_specialization_id"), ["specialization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_persona_id"), ["persona_id"], unique=False)
    op.create_table(
        "therapy_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.String(length=64), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=64), nullable=False),
        sa.Column("checkpoint_id", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("patient", sa.JSON(), nullable=False),
        sa.Column("teacher", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("extraction", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["checkpoint_id"], ["checkpoints.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "number"),
    )
    with op.batch_alter_table("therapy_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_therapy_sessions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_therapy_sessions_checkpoint_id"), ["checkpoint_id"], unique=False
        )
    op.create_table(
        "session_turns",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("therapist", sa.Text(), nullable=False),
        sa.Column("patient", sa.Text(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("risk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["therapy_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "index"),
    )
    with op.batch_alter_table("session_turns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_session_turns_session_id"), ["session_id"], unique=False)
    op.create_table(
        "recommendations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=True),
        sa.Column("p_accept", sa.Float(), nullable=True),
        sa.Column("u", sa.Float(), nullable=True),
        sa.Column("accepted", sa.Boolean(), nullable=True),
        sa.Column("phrasings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["therapy_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("session_id", "index"),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recommendations_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recommendations_session_id"))
    op.drop_table("recommendations")
    with op.batch_alter_table("session_turns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_session_turns_session_id"))
    op.drop_table("session_turns")
    with op.batch_alter_table("therapy_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_therapy_sessions_checkpoint_id"))
        batch_op.drop_index(batch_op.f("ix_therapy_sessions_case_id"))
    op.drop_table("therapy_sessions")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_persona_id"))
        batch_op.drop_index(batch_op.f("ix_cases_specialization_id"))
        batch_op.drop_index(batch_op.f("ix_cases_therapist_id"))
    op.drop_table("cases")
    op.drop_table("therapists")
