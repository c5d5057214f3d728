"""Checkpoints written by an earlier seqkit still load, and the scripts give the same output for them.

tests/legacy/<task>/ holds a tiny checkpoint of each task, the files it reads, and the output each command of
``legacy_commands.COMMANDS`` gave when it was recorded (tests/legacy/record.py): predict.py's JSON lines,
evaluate.py's metrics, generate.py's text with a seed, and export.py's sidecar. The commands run here as the
user types them (through the README test's preloader, so the imports are paid once) and must print the same
bytes; metrics and probabilities may differ in the last printed digit only where stated below.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from legacy_commands import COMMANDS, command_env, run_command
from readme_launcher import Preloader

LEGACY = Path(__file__).resolve().parent / "legacy"
CASES = [(task, kind) for task, commands in sorted(COMMANDS.items()) for kind in commands]


@pytest.fixture(scope="module")
def python(tmp_path_factory):
    preloader = Preloader(tmp_path_factory.mktemp("preloader"), command_env())
    yield str(preloader.bin / "python")
    preloader.close()


def test_every_task_with_inputs_has_a_legacy_checkpoint():
    assert {p.parent.name for p in LEGACY.glob("*/model.ckpt")} == set(COMMANDS)


@pytest.mark.parametrize("task,kind", CASES, ids=[f"{t}-{k}" for t, k in CASES])
def test_legacy_checkpoint_gives_the_recorded_output(python, tmp_path, task, kind):
    folder = tmp_path / task
    shutil.copytree(LEGACY / task, folder)
    done = run_command(COMMANDS[task][kind], folder, command_env(), python=python)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (LEGACY / task / f"{kind}.golden").read_text(encoding="utf-8")


def test_resuming_training_from_a_legacy_checkpoint_is_one_clear_line(python, tmp_path):
    """Training resumes only from checkpoints of this layout; an old one says so, and touches nothing."""
    folder = tmp_path / "sentiment"
    shutil.copytree(LEGACY / "sentiment", folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    done = run_command(
        ["train.py", "task=sentiment", "ckpt_path=model.ckpt", f"hydra.run.dir={tmp_path / 'run'}"],
        folder,
        command_env(),
        python=python,
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ") and "before seqkit's per-shape layout" in done.stderr
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
