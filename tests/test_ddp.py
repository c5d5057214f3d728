"""``trainer=ddp`` end to end: two CPU processes (gloo) train to the same weights as one process with twice the
batch. What makes them equal: the same seed (same initial weights on both ranks), each rank taking its half of
every global batch (seqkit/data/sampler.py), a loss that is a mean over the batch's examples (DDP averages the
ranks' gradients: the mean over the doubled batch), no dropout (the ranks' masks would differ from one process's)
and plain SGD. Tolerance: 1e-5 on every weight (float32 sums in a different order), after 12 steps."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import marker_examples, write_tab_file

REPO = Path(__file__).resolve().parents[1]
SAME = [
    "task=sentiment",
    "data.train_path=train.tsv",
    "data.val_path=val.tsv",
    "data.root={data}",
    "test=false",
    "optimizer=sgd",
    "optimizer.lr=0.5",
    "optimizer.momentum=0",
    "model.dropout=0",
    "model.embedding_dropout=0",
    "embedding.dim=8",
    "backbone.hidden_size=8",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "threads=1",
]


def train(tmp_path: Path, name: str, *overrides: str) -> Path:
    run_dir = tmp_path / name
    args = [a.format(data=tmp_path) for a in SAME] + [*overrides, f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "train.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    summaries = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1, done.stdout  # printed once, by rank 0
    (run_dir / "summary.json").write_text(summaries[0])
    return run_dir


@pytest.mark.slow
def test_two_processes_equal_one_process_with_twice_the_batch(tmp_path):
    write_tab_file(tmp_path / "train.tsv", marker_examples(96, seed=1, min_len=3, max_len=12))
    write_tab_file(tmp_path / "val.tsv", marker_examples(32, seed=2, min_len=3, max_len=12))
    ddp = train(tmp_path, "ddp", "trainer=ddp", "trainer.devices=2", "data.batch_size=8")
    one = train(tmp_path, "one", "data.batch_size=16")
    log = (ddp / "train.log").read_text()
    assert "distributed_backend=gloo" in log and "Starting with 2 processes" in log
    assert (ddp / "train.rank1.log").is_file()  # the second process ran, and wrote its own log

    weights = [torch.load(run / "checkpoints" / "last.ckpt", weights_only=True) for run in (ddp, one)]
    assert weights[0]["global_step"] == weights[1]["global_step"] == 12  # 96 / 16 per step, 2 epochs
    for key, value in weights[1]["state_dict"].items():
        assert torch.allclose(weights[0]["state_dict"][key], value, atol=1e-5, rtol=0), key
    metrics = [json.loads((run / "summary.json").read_text()) for run in (ddp, one)]
    for key in ("val/loss", "val/acc"):
        assert abs(metrics[0][key] - metrics[1][key]) <= 1e-5, (key, metrics)
    assert metrics[1]["val/acc"] >= 0.5  # it learnt (chance: 0.25), so equal weights are not the initial ones
