"""Each connection's OpenBB Workspace setting (``connector.table_settings``).

A file made before migrations by a version that already had this table keeps it: the
table is made only where it is missing.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("workspace_settings"):
        return
    op.create_table(
        "workspace_settings",
        sa.Column(
            "connection",
            sa.String(64),
            sa.ForeignKey("connections.name", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("body", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workspace_settings")
