"""One module per schema revision, oldest first; ``connector.migrate.HEAD`` names the last."""
