"""The PyInstaller entry script: the desktop app, or the CLI when given CLI arguments
(``serve``, ``--version`` ...), so the one bundled executable can start its own server."""

import sys

from gui.main import main

if __name__ == "__main__":
    sys.exit(main())
