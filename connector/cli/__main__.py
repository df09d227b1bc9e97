"""``python -m connector.cli``: the same CLI as the ``data-connector`` command."""

from connector.cli import main

main()
