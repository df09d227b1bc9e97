"""Data Connector: run SQL against your own databases from OpenBB and from scripts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("data-connector")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
