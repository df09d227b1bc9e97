"""Alembic's environment: migrate on the connection ``connector.migrate`` hands over.

That connection is already in a transaction (and on PostgreSQL holds the migration lock),
so Alembic runs inside it and the caller commits: all revisions land, or none.
"""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
