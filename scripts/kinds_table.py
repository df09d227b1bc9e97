"""The README's table of database kinds and their options, made from the backends' own
descriptions (``connector.backends.describe_kinds``), so it cannot drift from the code.

    python scripts/kinds_table.py           print the table
    python scripts/kinds_table.py --write   put it into README.md between its markers
    python scripts/kinds_table.py --check   exit 1 when README.md's table is out of date
"""

from __future__ import annotations

import sys

from readme_table import cell, main

from connector.backends import describe_kinds

START = "<!-- kinds-table: made by scripts/kinds_table.py -->"
END = "<!-- /kinds-table -->"


def render() -> str:
    lines = [
        "| kind | option | type | required | default | what it is |",
        "|---|---|---|---|---|---|",
    ]
    for info in describe_kinds():
        if not info.available:
            lines.append(f"| `{info.kind}` | | | | | not installed: `{info.install}` |")
            continue
        for option in info.options:
            kind = "secret" if option.secret else option.type
            if option.choices:
                kind += ": " + ", ".join(f"`{choice}`" for choice in option.choices)
            default = "" if option.default is None else f"`{option.default}`"
            help_text = option.help + (" (advanced)" if option.advanced else "")
            lines.append(
                f"| `{info.kind}` | `{option.name}` | {cell(kind)} | "
                f"{'yes' if option.required else ''} | {cell(default)} | {cell(help_text)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(
        main(
            sys.argv[1:],
            start=START,
            end=END,
            render=render,
            what="kinds table",
            script="kinds_table.py",
        )
    )
