"""The habits that keep the layout (run by the test suite, so CI holds them): ruff's lint and format checks over
the repository, and the layer contracts of pyproject.toml's ``[tool.importlinter]`` (``lint-imports``), which
fail on a wrong-way import: seqkit.nn importing Lightning, a shape's network or codec importing training or the
application, the Lightning-free commands importing Lightning, training importing the application."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")


def run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing_to_lint():
    done = run(sys.executable, "-m", "ruff", "check", ".")
    assert done.returncode == 0, done.stdout[-3000:]


def test_ruff_format_leaves_every_file_as_it_is():
    done = run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert done.returncode == 0, done.stdout[-3000:]


def test_the_layer_contracts_hold():
    done = run(LINT_IMPORTS)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


def test_a_wrong_way_import_breaks_a_contract(tmp_path):
    """The contracts are not vacuous: seqkit.nn importing Lightning (in a copy of the package) breaks one."""
    shutil.copytree(REPO / "seqkit", tmp_path / "seqkit", ignore=shutil.ignore_patterns("__pycache__", "builtin"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    padding = tmp_path / "seqkit" / "nn" / "padding.py"
    padding.write_text(
        padding.read_text(encoding="utf-8") + "\nimport pytorch_lightning  # noqa: E402,F401\n", encoding="utf-8"
    )
    done = run(LINT_IMPORTS, cwd=tmp_path)
    assert done.returncode != 0
    assert "seqkit.nn.padding -> pytorch_lightning" in done.stdout
