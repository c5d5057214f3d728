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
