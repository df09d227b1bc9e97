"""The README's table of database kinds and their options, made from the backends' own
descriptions (``connector.backends.describe_kinds``), so it cannot drift from the code.

    python scripts/kinds_table.py           print the table
    python scripts/kinds_table.py --write   put it into README.md between its markers
    python scripts/kinds_table.py --check   exit 1 when README.md's table is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from connector.backends import describe_kinds

README = Path(__file__).resolve().parent.parent / "README.md"
START = "<!-- kinds-table: made by scripts/kinds_table.py -->"
END = "<!-- /kinds-table -->"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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
                f"| `{info.kind}` | `{option.name}` | {_cell(kind)} | "
                f"{'yes' if option.required else ''} | {_cell(default)} | {_cell(help_text)} |"
            )
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
            print("README.md's kinds table is out of date: python scripts/kinds_table.py --write")
            return 1
        return 0
    print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
