"""The README's table of configuration-file keys, made from ``connector.config_file.KEYS``
and the settings' own descriptions (``connector.config.Settings``), so it cannot drift.

    python scripts/config_table.py           print the table
    python scripts/config_table.py --write   put it into README.md between its markers
    python scripts/config_table.py --check   exit 1 when README.md's table is out of date
"""

from __future__ import annotations

import sys

from readme_table import cell, main

from connector.config import Settings
from connector.config_file import ARRAYS, OTHER_KEYS, SETTING_KEYS

START = "<!-- config-table: made by scripts/config_table.py -->"
END = "<!-- /config-table -->"


def _table(section: str) -> str:
    return f"[[{section}]]" if section in ARRAYS else f"[{section}]"


def render() -> str:
    lines = ["| table | key | variable | meaning |", "|---|---|---|---|"]
    for (section, key), name in SETTING_KEYS.items():
        meaning = Settings.model_fields[name].description or ""
        lines.append(
            f"| `{_table(section)}` | `{key}` | `CONNECTOR_{name.upper()}` | {cell(meaning)} |"
        )
    for (section, key), meaning in OTHER_KEYS.items():
        shown = "(any)" if key == "*" else f"`{key}`"
        variable = ""
        if section == "metadata":
            variable = (
                "`CONNECTOR_SECRET_KEY`" if "secret_key" in key else "`CONNECTOR_METADATA_URL`"
            )
        lines.append(f"| `{_table(section)}` | {shown} | {variable} | {cell(meaning)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(
        main(
            sys.argv[1:],
            start=START,
            end=END,
            render=render,
            what="config table",
            script="config_table.py",
        )
    )
