"""Resume exactly, reproduce exactly: SIGKILL a training process part-way through its third epoch (after the
second epoch's checkpoint is on disk), resume it, and get bit-for-bit the run that was never interrupted.

Each training here is a subprocess of scripts/train.py, as a user runs it; its stdout is a pipe (not a
terminal), so these runs also show the one-line-an-epoch progress output.
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import marker_examples, write_tab_file
from test_tagger_scripts import conll_text

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
EPOCHS = 3


def _env():
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        # tests/ on the path: Hydra instantiates the test-only callback slow_epoch.SlowEpoch
        "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("SEQKIT_DEBUG", None)
    return env


def train(args, run_dir, *extra, timeout=240) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train.py"), *args, f"hydra.run.dir={run_dir}", *extra],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def train_and_kill_in_third_epoch(args, run_dir: Path, tmp_path: Path) -> None:
    """Start training, wait until the third epoch has begun (so the second epoch's checkpoint is written: the
    test-only SlowEpoch callback marks the start and slows that epoch down), then SIGKILL the process."""
    marker = tmp_path / f"{run_dir.name}.third-epoch"
    slow = [
        "+callbacks.slow._target_=slow_epoch.SlowEpoch",
        "+callbacks.slow.epoch=2",
        f"+callbacks.slow.marker={marker}",
    ]
    process = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "train.py"), *args, f"hydra.run.dir={run_dir}", *slow],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"training ended before its third epoch: {process.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "training did not reach its third epoch"
        time.sleep(0.05)
    time.sleep(0.5)  # a few batches into the third epoch
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    saved = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 1  # the second epoch (0-based) is what survives


def assert_same_training(ref: Path, other: Path) -> None:
    """Weights, optimiser state and every logged metric identical (exactly: torch.equal, the same CSV text)."""
    a = torch.load(ref / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    b = torch.load(other / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (a["epoch"], a["global_step"]) == (b["epoch"], b["global_step"])
    for key in ("state_dict", "current_model_state"):  # the latter: the current weights beside an average
        assert a.get(key, {}).keys() == b.get(key, {}).keys()
        for name, tensor in a.get(key, {}).items():
            assert torch.equal(tensor, b[key][name]), (key, name)
    for (i, state), (j, other_state) in zip(
        sorted(a["optimizer_states"][0]["state"].items()), sorted(b["optimizer_states"][0]["state"].items())
    ):
        assert i == j and all(torch.equal(state[k], other_state[k]) for k in state)
    metrics_a, metrics_b = (p / "csv" / "metrics.csv" for p in (ref, other))
    rows = list(csv.DictReader(io.StringIO(metrics_a.read_text())))
    assert [r["epoch"] for r in rows if r["train/loss"]] == [str(e) for e in range(EPOCHS)]  # each epoch's mean
    assert sum(1 for r in rows if r["val/loss"]) == EPOCHS + 1  # one an epoch, and the final validation
    assert metrics_a.read_text() == metrics_b.read_text()


def final_metrics(done: subprocess.CompletedProcess) -> dict:
    import json

    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {k: v for k, v in summary.items() if k.startswith("val/")}


def test_classifier_resumes_exactly_reproduces_exactly_and_logs_one_line_an_epoch(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for k, (name, n) in enumerate((("train", 200), ("val", 60))):
        write_tab_file(data / f"{name}.tsv", marker_examples(n, seed=k))
    args = [
        f"data.train_path={data / 'train.tsv'}",
        f"data.val_path={data / 'val.tsv'}",
        "backbone.hidden_size=8",
        "model.embedding_dim=8",
        "data.batch_size=16",
        f"trainer.max_epochs={EPOCHS}",
        "threads=1",
    ]

    reference = train(args, tmp_path / "reference")
    # progress output off a terminal: one line an epoch, no bar redraws
    epoch_lines = [line for line in reference.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == [f"{e}/{EPOCHS}" for e in range(1, EPOCHS + 1)]
    assert "val/acc" in epoch_lines[-1]
    assert "\r" not in reference.stdout + reference.stderr
    assert len(reference.stdout) < 1500, reference.stdout

    # the same command twice: the same metrics.csv, the same weights
    again = train(args, tmp_path / "again")
    assert_same_training(tmp_path / "reference", tmp_path / "again")
    assert final_metrics(again) == final_metrics(reference)

    # killed in epoch 3, resumed by naming the run directory: continues there, ends as the reference did
    killed = tmp_path / "killed"
    train_and_kill_in_third_epoch(args, killed, tmp_path)
    resumed = train(args, tmp_path / "fresh", f"ckpt_path={killed}")
    assert f"[seqkit] resuming {killed} from last.ckpt (epoch 2, step 26)" in resumed.stdout
    assert f"run directory: {killed}" in resumed.stdout
    assert not (tmp_path / "fresh").exists() and (killed / ".hydra" / "resume-fresh" / "overrides.yaml").is_file()
    assert_same_training(tmp_path / "reference", killed)
    assert final_metrics(resumed) == final_metrics(reference)


def test_tagger_with_unbucketed_batches_and_weight_averaging_resumes_exactly_in_place(tmp_path):
    files = {name: tmp_path / f"{name}.conll" for name in ("train", "val")}
    for k, (name, path) in enumerate(files.items()):
        path.write_text(conll_text(120 if name == "train" else 30, k + 1), encoding="utf-8")
    args = [
        "task=ner",
        "data.builtin=null",
        f"data.train_path={files['train']}",
        f"data.val_path={files['val']}",
        "embedding.pretrained=null",
        "embedding.dim=8",
        "backbone.hidden_size=8",
        "++model.char={embedding_dim:4,num_filters:4}",
        "data.bucketing=false",
        "data.batch_size=16",
        "callbacks=ema",
        f"trainer.max_epochs={EPOCHS}",
        "threads=1",
    ]
    train(args, tmp_path / "reference")
    run_dir = tmp_path / "run"
    train_and_kill_in_third_epoch(args, run_dir, tmp_path)
    resumed = train(args, run_dir, "ckpt_path=last")  # the same command, with ckpt_path=last added
    assert f"[seqkit] resuming {run_dir} from last.ckpt (epoch 2" in resumed.stdout
    assert_same_training(tmp_path / "reference", run_dir)
    assert "current_model_state" in torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def test_a_streamed_training_file_resumes_exactly(tmp_path):
    """The stream's order is replayed from (seed, epoch): the resumed third epoch reads the batches it read before."""
    data = tmp_path / "data"
    data.mkdir()
    for k, (name, n) in enumerate((("train", 200), ("val", 40))):
        write_tab_file(data / f"{name}.tsv", marker_examples(n, seed=k))
    args = [
        f"data.train_path={data / 'train.tsv'}",
        f"data.val_path={data / 'val.tsv'}",
        "data.streaming=true",
        "data.shuffle_buffer=48",
        "backbone.hidden_size=8",
        "model.embedding_dim=8",
        "data.batch_size=16",
        f"trainer.max_epochs={EPOCHS}",
        "test=false",
        "threads=1",
    ]
    reference = train(args, tmp_path / "reference")
    assert "streaming " in reference.stdout + reference.stderr  # the stream, not the in-memory path
    run_dir = tmp_path / "run"
    train_and_kill_in_third_epoch(args, run_dir, tmp_path)
    resumed = train(args, run_dir, "ckpt_path=last")
    assert f"[seqkit] resuming {run_dir} from last.ckpt (epoch 2" in resumed.stdout
    assert_same_training(tmp_path / "reference", run_dir)


def test_language_model_on_a_prepared_corpus_resumes_exactly_with_jittered_bptt(tmp_path):
    """The memory-mapped path (data.prepare=true) with AWD-LSTM's variable BPTT lengths: the resumed third epoch
    cuts its batches as the uninterrupted run's third epoch did (the epoch number comes from the trainer)."""
    import random

    rng = random.Random(0)
    for name, lines in (("train", 60), ("val", 20)):
        text = "".join(" ".join(rng.choices(["to", "be", "or", "not", "ay"], k=8)) + "\n" for _ in range(lines))
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    args = [
        "task=lm",
        f"data.train_path={tmp_path / 'train.txt'}",
        f"data.val_path={tmp_path / 'val.txt'}",
        "data.prepare=true",
        f"data.prepare_dir={tmp_path / 'prepared'}",
        "data.bptt_jitter=true",
        "data.bptt=16",
        "data.batch_size=4",
        "data.eval_batch_size=4",
        "embedding.dim=8",
        "backbone.hidden_size=8",
        "backbone.num_layers=1",
        "model.sample_length=0",
        f"trainer.max_epochs={EPOCHS}",
        "threads=1",
    ]
    train(args, tmp_path / "reference")
    run_dir = tmp_path / "run"
    train_and_kill_in_third_epoch(args, run_dir, tmp_path)
    resumed = train(args, run_dir, "ckpt_path=last")
    assert f"[seqkit] resuming {run_dir} from last.ckpt (epoch 2" in resumed.stdout
    assert "preparing" not in resumed.stderr  # the prepared corpus is read as it is
    assert_same_training(tmp_path / "reference", run_dir)
