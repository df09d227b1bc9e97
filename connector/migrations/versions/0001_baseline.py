"""The metadata store as it was before migrations: meta, connections, saved queries, history.

A SQLite file made by an older version already has these tables; ``connector.migrate``
stamps it at this revision instead of running it.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "connections",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("read_only", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "saved_queries",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("connection", sa.String(64), nullable=False),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_table(
        "history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("query_id", sa.String(40), nullable=False),
        sa.Column("connection", sa.String(64), nullable=False),
        sa.Column("sql", sa.Text, nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("row_count", sa.Integer),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(40)),
        sa.Column("client", sa.String(200)),
    )


def downgrade() -> None:
    for table in ("history", "saved_queries", "connections", "meta"):
        op.drop_table(table)
