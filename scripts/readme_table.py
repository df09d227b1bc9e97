"""What the README's generated tables share: a Markdown cell, the table put between its
markers, and the print / ``--write`` / ``--check`` command line of each table's script."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def with_table(readme: str, start: str, end: str, table: str) -> str:
    head, found, rest = readme.partition(start)
    if not found or end not in rest:
        raise SystemExit(f"README.md has no {start} ... {end} markers")
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{table}\n{end}{tail}"


def main(
    argv: list[str], *, start: str, end: str, render: Callable[[], str], what: str, script: str
) -> int:
    """Print the table, ``--write`` it into README.md, or ``--check`` (exit 1) that it is
    up to date; ``what`` and ``script`` name the table and its script when it is not."""
    if "--write" in argv:
        current = README.read_text(encoding="utf-8")
        README.write_text(with_table(current, start, end, render()), encoding="utf-8")
        return 0
    if "--check" in argv:
        current = README.read_text(encoding="utf-8")
        if with_table(current, start, end, render()) != current:
            print(f"README.md's {what} is out of date: python scripts/{script} --write")
            return 1
        return 0
    print(render())
    return 0
