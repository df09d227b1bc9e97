"""The metadata store's Alembic migrations (``versions/``), run by ``connector.migrate``."""
