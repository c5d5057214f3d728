"""seqkit installed as a user installs it: the wheel, in a fresh virtual environment, run from an empty folder.

The wheel is built from a copy of this checkout (so the build leaves nothing in it) and must hold every shipped
config (``seqkit/configs``) and the built-in data, the ``seqkit`` command, and nothing of ``tests/``. It is installed
into a new virtual environment that sees this interpreter's packages (``--system-site-packages``: torch and the
rest are not downloaded again) and then, with no PYTHONPATH and from a folder outside the checkout, ``seqkit train
task=sentiment`` (short), ``seqkit predict`` on its checkpoint, and ``seqkit train --config-dir my_configs
task=markers`` with a task of the user's own run through the installed copy, not this checkout (checked: the
``seqkit`` they import lies in the environment). Runs are written under the folder they start in; the installed
package is left as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest
from conftest import marker_examples, write_tab_file
from test_readme import TRAIN_SHORT

REPO = Path(__file__).resolve().parents[1]
NOT_BUILT = {"outputs", "multirun", "lightning_logs", "__pycache__"}  # what running the tests may leave in a copy
USER_TASK = """# @package _global_
# Which markers open and close a line: the sentiment classifier on my own files (my_configs/task/markers.yaml)
defaults:
  - sentiment
data:
  train_path: train.tsv
  val_path: val.tsv
  test_path: null
model:
  pooling: mean
"""


def _not_built(folder: str, names: List[str]) -> List[str]:
    return [n for n in names if n in NOT_BUILT or n.endswith((".egg-info", "_cache")) or n.startswith(".pytest")]


def run(command: List[str], cwd: Path, env: Dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"$ {' '.join(command)}\n(in {cwd}; exit {done.returncode})\n"
        f"--- stdout:\n{done.stdout[-3000:]}\n--- stderr:\n{done.stderr[-3000:]}"
    )
    return done


def build_wheel(folder: Path) -> Path:
    """``pip wheel . --no-deps`` on a copy of the checkout's sources (tests/ and scripts/ included: the wheel must
    leave them out)."""
    source = folder / "source"
    for name in ("seqkit", "tests", "scripts"):
        shutil.copytree(REPO / name, source / name, ignore=_not_built)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the installed setuptools builds it (no download); pip's isolated build where there is none to build with
    isolation = ["--no-build-isolation"] if _can_build_here() else []
    command = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-w", str(folder / "dist"), "-q"]
    run(command + isolation, cwd=folder, env=env)
    (wheel,) = (folder / "dist").glob("seqkit-*.whl")
    return wheel


def _can_build_here() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    return tuple(int(p) for p in setuptools.__version__.split(".")[:2]) >= (70, 1)  # bdist_wheel built in


def venv_env(venv: Path) -> Dict[str, str]:
    """The environment of a user's shell with the virtual environment active: no PYTHONPATH, no user site."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SEQKIT_DEBUG", "PYTHONHOME")}
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), env.get("PATH", "")]),
        VIRTUAL_ENV=str(venv),
        PYTHONNOUSERSITE="1",
        OMP_NUM_THREADS="1",
    )
    return env


def package_files(venv: Path) -> List[str]:
    (package,) = venv.glob("lib/python*/site-packages/seqkit")
    return sorted(str(p.relative_to(package)) for p in package.rglob("*") if "__pycache__" not in p.parts)


def last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_installs_a_seqkit_command_that_trains_and_predicts_from_any_folder(tmp_path):
    wheel = build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    configs = {str(p.relative_to(REPO)) for p in (REPO / "seqkit" / "configs").rglob("*.yaml")}
    builtin = {
        str(p.relative_to(REPO))
        for p in (REPO / "seqkit" / "data" / "builtin").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert len(configs) > 40 and configs <= names, sorted(configs - names)
    assert "seqkit/configs/__init__.py" in names and "seqkit/__main__.py" in names
    assert len(builtin) > 10 and builtin <= names, sorted(builtin - names)
    assert not [n for n in names if n.startswith(("tests/", "scripts/")) or "/tests/" in n or "toyshape" in n]
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "seqkit = seqkit.app.command:main" in zipfile.ZipFile(wheel).read(entry_points).decode()

    venv = tmp_path / "venv"
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], cwd=tmp_path, env=plain)
    env = venv_env(venv)
    python = str(venv / "bin" / "python")
    # pip is this interpreter's (seen through the system site); --force-reinstall: a seqkit of the same version
    # outside the environment (this checkout's editable install) does not count as installed
    run([python, "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)], cwd=tmp_path, env=env)
    before = package_files(venv)

    work = tmp_path / "work"  # the user's empty folder, outside the checkout
    work.mkdir()
    where = run([python, "-c", "import seqkit; print(seqkit.__file__)"], cwd=work, env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), f"the checkout's seqkit was imported, not the wheel's: {where}"
    seqkit = str(venv / "bin" / "seqkit")
    version = run([seqkit, "--version"], cwd=work, env=env).stdout
    assert str(venv) in version

    trained = run([seqkit, "train", "task=sentiment", *TRAIN_SHORT], cwd=work, env=env)
    best = Path(last_json(trained.stdout)["best_checkpoint"])
    (run_dir,) = (work / "outputs" / "sentiment" / "runs").iterdir()
    assert best == run_dir / "checkpoints" / "best.ckpt" and best.is_file()
    assert "Traceback" not in trained.stderr

    (work / "reviews.txt").write_text("a great , witty film .\nboring and dull .\n", encoding="utf-8")
    predicted = run([seqkit, "predict", f"ckpt_path={best}", "input=reviews.txt"], cwd=work, env=env)
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 2 and all("label" in row for row in rows), predicted.stdout

    (work / "my_configs" / "task").mkdir(parents=True)
    (work / "my_configs" / "task" / "markers.yaml").write_text(USER_TASK, encoding="utf-8")
    write_tab_file(work / "train.tsv", marker_examples(64, seed=1, min_len=3, max_len=10))
    write_tab_file(work / "val.tsv", marker_examples(16, seed=2, min_len=3, max_len=10))
    mine = run([seqkit, "train", "--config-dir", "my_configs", "task=markers", *TRAIN_SHORT], cwd=work, env=env)
    summary = last_json(mine.stdout)
    assert "val/acc" in summary and Path(summary["best_checkpoint"]).is_relative_to(work / "outputs" / "markers")
    config = (next((work / "outputs" / "markers" / "runs").iterdir()) / ".hydra" / "config.yaml").read_text()
    assert "pooling: mean" in config and "train_path: train.tsv" in config

    assert package_files(venv) == before  # nothing written into the installed package
    assert sorted(p.name for p in work.iterdir()) == [
        "my_configs",
        "outputs",
        "reviews.txt",
        "train.tsv",
        "val.tsv",
    ]
