"""Record the legacy checkpoints and their golden outputs (run once, with the seqkit whose outputs are golden).

    PYTHONPATH=.:tests python tests/legacy/record.py

For every task of tests/test_contracts.py's TASKS: a tiny model trained three steps on its generated files,
its checkpoint, the files it reads, and what each command prints for them (``COMMANDS``), one folder a task.
tests/test_legacy_checkpoints.py runs the same commands on the stored checkpoints and compares, so a change
meant to keep behaviour (a refactor) shows every byte it moves, and checkpoints written before it keep loading.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from legacy_commands import COMMANDS, command_env, run_command  # noqa: E402


def record(name: str) -> None:
    from test_contracts import TASKS, fit_tiny

    folder = HERE / name
    shutil.rmtree(folder, ignore_errors=True)
    work = folder / "data"
    work.mkdir(parents=True)
    _, _, trainer = fit_tiny(name, work, steps=3)
    trainer.save_checkpoint(folder / "model.ckpt", weights_only=True)
    shutil.rmtree(work / "run", ignore_errors=True)
    task = TASKS[name]
    if task.predict_lines is not None:
        (folder / "predict.txt").write_text("\n".join(task.predict_lines) + "\n", encoding="utf-8")
    for kind, args in COMMANDS.get(name, {}).items():
        done = run_command(args, folder, command_env())
        if done.returncode != 0:
            raise SystemExit(f"{name} {kind}: exit {done.returncode}\n{done.stderr}")
        (folder / f"{kind}.golden").write_text(done.stdout, encoding="utf-8")
        print(f"{name} {kind}: {len(done.stdout.splitlines())} lines", flush=True)


if __name__ == "__main__":
    for task in sys.argv[1:] or sorted(COMMANDS):
        record(task)
