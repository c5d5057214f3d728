"""Never lose a run's files: checkpoints and metrics.csv are replaced whole or appended to (a kill at any moment
leaves the previous ones), two runs never share a directory, ``ckpt_path=last`` never picks a run that is still
training, and a resume removes only a directory this command made."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_reliability import data, fails_with_one_line, finished_run, train_config  # noqa: F401 (fixtures)

from seqkit.app.run_dir import run_lock
from seqkit.app.train import train
from seqkit.data.errors import DataError
from seqkit.training.checkpoint_io import AtomicCheckpointIO
from seqkit.training.csv_logger import ResumableCSVLogger

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "model.embedding_dim=8",
    "data.batch_size=16",
    "threads=1",
    "test=false",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


def data_args(folder: Path):
    return [f"data.train_path={folder / 'train.tsv'}", f"data.val_path={folder / 'val.tsv'}"]


def patched_train(*args: str, cwd: Path = REPO, **env: str) -> subprocess.Popen:
    """scripts/train.py through tests/patched_train.py (faults injected as ``env`` asks), output captured."""
    full_env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        **env,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    full_env.pop("SEQKIT_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "patched_train.py"), *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, code: int = 0) -> str:
    out, err = process.communicate(timeout=240)
    assert process.returncode == code, f"exit {process.returncode}\n{out[-2000:]}\n{err[-3000:]}"
    return out


def mode_of_a_new_file(folder: Path) -> int:
    probe = folder / "probe"
    probe.write_bytes(b"")
    mode = probe.stat().st_mode & 0o777
    probe.unlink()
    return mode


# ---- (a) checkpoints: the previous one survives a failed or killed write -----------------------------------------


def test_a_checkpoint_write_that_fails_half_way_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    target = tmp_path / "checkpoints" / "last.ckpt"
    writer = AtomicCheckpointIO()
    writer.save_checkpoint({"epoch": 0, "w": torch.zeros(3)}, target)
    real_save = torch.save

    def half_then_disk_full(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(f.tell() // 2)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_disk_full)
    with pytest.raises(DataError, match="last.ckpt: cannot write the output: No space left"):
        writer.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, target)
    saved = torch.load(target, weights_only=True)
    assert saved["epoch"] == 0 and torch.equal(saved["w"], torch.zeros(3))
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]  # the temporary file is gone
    monkeypatch.setattr(torch, "save", real_save)
    writer.save_checkpoint({"epoch": 1, "w": torch.ones(3)}, target)
    assert torch.load(target, weights_only=True)["epoch"] == 1
    assert target.stat().st_mode & 0o777 == mode_of_a_new_file(target.parent)  # not the temporary file's 0600


@pytest.mark.slow
def test_a_training_killed_while_writing_last_ckpt_keeps_the_previous_one(marker_files, tmp_path):
    """The process dies half-way through the second epoch's last.ckpt, with $TMPDIR on another file system
    (tests/patched_train.py): Lightning's own writer copied its temporary file into the truncated last.ckpt."""
    folder = marker_files(train=96, val=32)["train"].parent
    run_dir = tmp_path / "run"
    finish(
        patched_train(
            *data_args(folder),
            *TINY,
            "backbone.hidden_size=8",
            "trainer.max_epochs=2",
            f"hydra.run.dir={run_dir}",
            KILL_AT_LAST_CKPT_WRITE="2",
        ),
        code=9,
    )
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 0  # the first epoch's, whole


# ---- (b) two runs started in the same second ---------------------------------------------------------------------


@pytest.mark.slow
def test_two_runs_started_in_the_same_second_get_a_directory_each(marker_files, tmp_path):
    folder = marker_files(train=64, val=16)["train"].parent
    runs = [
        patched_train(
            *data_args(folder),
            *TINY,
            f"backbone.hidden_size={size}",
            "trainer.max_epochs=1",
            cwd=tmp_path,
            FROZEN_TIME="2026-01-02 03:04:05",
        )
        for size in (6, 8)
    ]
    for process in runs:
        finish(process)
    run_dirs = sorted((tmp_path / "outputs" / "sentiment" / "runs").iterdir())
    assert len(run_dirs) == 2 and all(d.name.startswith("2026-01-02_03-04-05") for d in run_dirs)
    sizes = set()
    for run_dir in run_dirs:  # each holds its own run's checkpoint, config and log
        size = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["hyper_parameters"]["backbone"][
            "hidden_size"
        ]
        assert f"backbone.hidden_size={size}" in (run_dir / ".hydra" / "overrides.yaml").read_text()
        assert (run_dir / "train.log").read_text().count("[seqkit] run directory:") == 1
        sizes.add(size)
    assert sizes == {6, 8}


# ---- (c) ckpt_path=last and a run that is still training -------------------------------------------------------


def test_ckpt_path_last_passes_over_a_run_still_training(finished_run, data, tmp_path, capsys, monkeypatch):  # noqa: F811
    runs = tmp_path / "runs"
    done, busy = runs / "done", runs / "busy"
    shutil.copytree(finished_run, done)
    shutil.copytree(finished_run, busy)
    os.utime(busy / "checkpoints" / "last.ckpt", (time.time() + 60, time.time() + 60))  # the latest one
    with run_lock(busy):  # a process is training in busy
        capsys.readouterr()
        assert train(train_config(runs / "new", data, "ckpt_path=last")) == {}
        assert capsys.readouterr().out.startswith(f"[seqkit] {done} has finished")  # not busy, the latest
        # resuming busy by name is refused, as is ckpt_path=last when busy is the only run left
        line = fails_with_one_line(train, train_config(runs / "new", data, f"ckpt_path={busy}"), capsys, monkeypatch)
        assert line.startswith(f"error: {busy}: is in use: process {os.getpid()} is still training in it")
        shutil.rmtree(done)
        line = fails_with_one_line(train, train_config(runs / "new", data, "ckpt_path=last"), capsys, monkeypatch)
        assert line.startswith(
            f"error: {runs}: no run to resume: every run here with a checkpoints/last.ckpt is still training (busy)"
        )
        # and a second process training into busy is refused before it writes anything there
        before = sorted(p.name for p in busy.rglob("*"))
        line = fails_with_one_line(train, train_config(busy, data, "trainer.max_epochs=2"), capsys, monkeypatch)
        assert line.startswith(f"error: {busy}: is in use")
        assert sorted(p.name for p in busy.rglob("*")) == before


def test_a_killed_run_can_be_resumed_its_lock_goes_with_it(finished_run, data, tmp_path, capsys):  # noqa: F811
    runs = tmp_path / "runs"
    killed = runs / "killed"
    shutil.copytree(finished_run, killed)
    hold = (
        "import sys, time; from pathlib import Path; from seqkit.app.run_dir import run_lock\n"
        "with run_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(killed)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    capsys.readouterr()
    assert train(train_config(runs / "new", data, "ckpt_path=last")) == {}
    assert capsys.readouterr().out.startswith(f"[seqkit] {killed} has finished")


# ---- (d) a resume removes only a directory this command made ------------------------------------------------------


@pytest.mark.slow
def test_resuming_keeps_an_existing_hydra_run_dir_and_removes_only_a_fresh_one(finished_run, data, tmp_path):  # noqa: F811
    resumed = tmp_path / "resumed"
    shutil.copytree(finished_run, resumed)
    existing = tmp_path / "my-folder"
    existing.mkdir()
    (existing / "notes.log").write_text("mine\n")
    args = [*data_args(data), "backbone.hidden_size=8", *TINY, "trainer.max_epochs=1", f"ckpt_path={resumed}"]
    out = finish(patched_train(*args, f"hydra.run.dir={existing}"))
    assert f"[seqkit] {resumed} has finished" in out
    assert (existing / "notes.log").read_text() == "mine\n"  # the folder and its files stay
    assert (resumed / ".hydra" / f"resume-{existing.name}" / "overrides.yaml").is_file()
    # a directory Hydra made for this command is folded into the resumed run, as before
    fresh = tmp_path / "fresh"
    finish(patched_train(*args, f"hydra.run.dir={fresh}"))
    assert not fresh.exists() and (resumed / ".hydra" / "resume-fresh" / "overrides.yaml").is_file()


# ---- (e) metrics.csv: appended to, or replaced whole ----------------------------------------------------------


class MetricsFile:
    """Snapshots of metrics.csv: each write must append to the same file or replace it with a new one."""

    def __init__(self, path: Path):
        self.path, self.inode, self.data = path, None, b""

    def check(self) -> str:
        stat, now = self.path.stat(), self.path.read_bytes()
        how = "appended" if stat.st_ino == self.inode else "replaced"
        if how == "appended":
            assert now.startswith(self.data), "rewritten in place"
        self.inode, self.data = stat.st_ino, now
        return how

    def rows(self):
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))


def test_metrics_csv_is_appended_to_or_replaced_whole_never_rewritten_in_place(tmp_path, monkeypatch):
    logger = ResumableCSVLogger(tmp_path, name="csv", version="")
    metrics = MetricsFile(tmp_path / "csv" / "metrics.csv")
    logger.log_metrics({"train/loss": 1.0}, step=0)
    logger.save()
    metrics.check()
    logger.log_metrics({"train/loss": 0.9}, step=1)
    logger.save()
    assert metrics.check() == "appended"
    logger.log_metrics({"val/acc": 0.5}, step=1)  # a new column: the header changes
    logger.save()
    assert metrics.check() == "replaced"
    assert [r["val/acc"] for r in metrics.rows()] == ["", "", "0.5"]

    # killed while writing the next new column: the rows already there stay
    logger.log_metrics({"test/acc": 0.7}, step=2)

    def killed(self, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(csv.DictWriter, "writerows", killed)
    with pytest.raises(KeyboardInterrupt):
        logger.save()
    monkeypatch.undo()
    assert metrics.path.read_bytes() == metrics.data
    assert [p.name for p in metrics.path.parent.iterdir()] == ["metrics.csv"]

    # a resumed run keeps the file as it starts, and replaces the rows from its first step on (no duplicates)
    resumed = ResumableCSVLogger(tmp_path, name="csv", version="")
    assert resumed.experiment.metrics_keys == ["step", "train/loss", "val/acc"]  # the file's header
    assert metrics.check() == "appended" and metrics.path.read_bytes() == metrics.data  # untouched
    resumed.log_metrics({"train/loss": 0.8}, step=1)
    resumed.save()
    assert metrics.check() == "replaced"
    assert [(r["step"], r["train/loss"]) for r in metrics.rows()] == [("0", "1.0"), ("1", "0.8")]


def test_a_row_cut_short_by_a_kill_is_dropped_not_kept_or_glued_to(tmp_path):
    path = tmp_path / "csv" / "metrics.csv"
    path.parent.mkdir()
    path.write_text("step,train/loss\n0,1.0\n1,0.")  # killed while appending step 1's row, after its checkpoint
    logger = ResumableCSVLogger(tmp_path, name="csv", version="")  # resumed from that checkpoint: logs step 2 on
    logger.log_metrics({"train/loss": 0.8}, step=2)
    logger.save()
    assert path.read_text().splitlines() == ["step,train/loss", "0,1.0", "2,0.8"]
