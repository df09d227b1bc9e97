"""The documentation keeps up with the code: every setting is documented, and CI runs the
README's own test command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from connector.backends import describe_kinds
from connector.config import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_docs_every_setting_is_in_the_readme() -> None:
    missing = [
        name for name in Settings.model_fields if f"`CONNECTOR_{name.upper()}`" not in README
    ]
    assert missing == []


def test_docs_readme_starts_with_the_two_commands() -> None:
    head = README[:1200]
    assert "data-connector serve" in head
    assert '.venv/bin/pip install -e ".[dev]" && .venv/bin/python -m pytest' in head


def test_docs_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    extract = script.split("test_command=$(", 1)[1].split(")\nif", 1)[0]
    found = subprocess.run(
        ["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert (
        found.stdout.strip()
        == 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && .venv/bin/python -m pytest'
    )


def test_docs_kinds_table_is_made_from_the_backends() -> None:
    found = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "kinds_table.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr
    for info in describe_kinds():
        for option in info.options:
            assert f"| `{info.kind}` | `{option.name}` |" in README
