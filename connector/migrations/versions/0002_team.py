"""Team deployment: saved-query versions, named API keys, the caller in history, the
queries running in every server process, and encrypted connection secrets for replicas.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("saved_queries") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("history") as batch:
        batch.add_column(sa.Column("caller", sa.String(64)))
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("revoked_at", sa.String(40)),
    )
    op.create_table(
        "running_queries",
        sa.Column("query_id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("connection", sa.String(64), nullable=False),
        sa.Column("sql", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("client", sa.String(200)),
        sa.Column("caller", sa.String(64)),
        sa.Column("seen_at", sa.Float, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    )

    op.create_table(
        "connection_secrets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("token", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connection_secrets")
    op.drop_table("running_queries")
    op.drop_table("api_keys")
    with op.batch_alter_table("history") as batch:
        batch.drop_column("caller")
    with op.batch_alter_table("saved_queries") as batch:
        batch.drop_column("version")
