"""The README's table of configuration-file keys, made from ``connector.config_file.KEYS``
and the settings' own descriptions (``connector.config.Settings``), so it cannot drift.

    python scripts/config_table.py           print the table
    python scripts/config_table.py --write   put it into README.md between its markers
    python scripts/config_table.py --check   exit 1 when README.md's table is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from connector.config import Settings
from connector.config_file import ARRAYS, OTHER_KEYS, SETTING_KEYS

README = Path(__file__).resolve().parent.parent / "README.md"
START = "<!-- config-table: made by scripts/config_table.py -->"
END = "<!-- /config-table -->"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(section: str) -> str:
    return f"[[{section}]]" if section in ARRAYS else f"[{section}]"


def render() -> str:
    lines = ["| table | key | variable | meaning |", "|---|---|---|---|"]
    for (section, key), name in SETTING_KEYS.items():
        meaning = Settings.model_fields[name].description or ""
        lines.append(
            f"| `{_table(section)}` | `{key}` | `CONNECTOR_{name.upper()}` | {_cell(meaning)} |"
        )
    for (section, key), meaning in OTHER_KEYS.items():
        shown = "(any)" if key == "*" else f"`{key}`"
        variable = ""
        if section == "metadata":
            variable = (
                "`CONNECTOR_SECRET_KEY`" if "secret_key" in key else "`CONNECTOR_METADATA_URL`"
            )
        lines.append(f"| `{_table(section)}` | {shown} | {variable} | {_cell(meaning)} |")
    return "\n".join(lines)


def with_table(readme: str) -> str:
    head, found, rest = readme.partition(START)
    if not found or END not in rest:
        raise SystemExit(f"README.md has no {START} ... {END} markers")
    tail = rest.split(END, 1)[1]
    return f"{head}{START}\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    if "--write" in argv:
        README.write_text(with_table(README.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    if "--check" in argv:
        current = README.read_text(encoding="utf-8")
        if with_table(current) != current:
            print("README.md's config table is out of date: python scripts/config_table.py --write")
            return 1
        return 0
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
