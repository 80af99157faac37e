"""The README's examples work as written."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, SEED_URL, SEEDS

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    shutil.copytree(SEEDS, tmp_path / "seeds")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(blocks[0], "README.md", "exec"), {"__name__": "readme"})
    lines = output.getvalue().splitlines()
    assert lines[0] == "1001 documents, 0 skipped"
    assert lines[1] == "1 matches"
    assert lines[2].startswith(
        f"New Orleans police use facial recognition software, despite previous "
        f"assurances to the contrary {SEED_URL} "
    )
    related = "New Orleans Police Department using facial recognition despite years of denial"
    assert lines[-1] == f"NOLA.com [{related!r}]"


def test_the_setup_commands_are_the_ones_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    test_command = next(
        line for line in README.splitlines() if "pytest" in line and line.startswith("python3")
    )
    assert test_command in ci
