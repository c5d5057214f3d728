"""Honest progress and logs: the progress line and ``metrics.csv`` carry each epoch's mean training loss (weighted
by batch size), even when ``trainer.log_every_n_steps`` exceeds the batches of an epoch (small data), and the
progress line is not the first step's loss repeated."""

from __future__ import annotations

import csv
import io
import re
from contextlib import redirect_stdout

import pytest
import pytorch_lightning as pl
import torch

from seqkit.tasks.language_model.datamodule import LanguageModelingDataModule
from seqkit.training import TaskModule
from seqkit.training.callbacks import LineProgressBar
from seqkit.training.csv_logger import ResumableCSVLogger


class BatchLosses(pl.Callback):
    """Each training step's loss and batch size, per epoch: what the epoch's mean must be made of."""

    def __init__(self):
        self.by_epoch = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.by_epoch.setdefault(trainer.current_epoch, []).append((float(outputs["loss"]), len(batch)))


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """Two epochs of 4 batches each under log_every_n_steps=5: step logging alone would miss epoch 1 entirely."""
    tmp_path = tmp_path_factory.mktemp("logs")
    (tmp_path / "train.txt").write_text("the cat sat on the mat.\n" * 8, encoding="utf-8")
    data = LanguageModelingDataModule(train_path=str(tmp_path / "train.txt"), bptt=8, batch_size=2, eval_batch_size=2)
    data.setup("fit")
    losses = BatchLosses()
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=4,
        limit_val_batches=1,
        log_every_n_steps=5,
        logger=ResumableCSVLogger(str(tmp_path), name="csv", version=""),
        callbacks=[LineProgressBar(), losses],
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
    )
    torch.manual_seed(0)
    module = TaskModule(
        "language_model", **data.model_kwargs(), embedding_dim=4, backbone={"hidden_size": 4}, optimizer=None
    )
    module.hparams.optimizer = {"_target_": "torch.optim.SGD", "lr": 1.0}  # big steps: each batch's loss differs
    out = io.StringIO()
    with redirect_stdout(out):
        trainer.fit(module, datamodule=data)
    with open(tmp_path / "csv" / "metrics.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return out.getvalue(), rows, losses.by_epoch


def mean(pairs):
    return sum(loss * n for loss, n in pairs) / sum(n for _, n in pairs)


def test_metrics_csv_has_the_mean_training_loss_of_every_epoch(small_run):
    _, rows, by_epoch = small_run
    epochs = {int(r["epoch"]): float(r["train/loss"]) for r in rows if r.get("train/loss")}
    assert sorted(epochs) == [0, 1] and all(len(by_epoch[e]) == 4 for e in (0, 1))
    for epoch, value in epochs.items():
        assert value == pytest.approx(mean(by_epoch[epoch]), rel=1e-5)
    step_rows = [(r["step"], float(r["train/step_loss"])) for r in rows if r.get("train/step_loss")]
    assert step_rows == [("4", pytest.approx(by_epoch[1][0][0]))]  # the 5th step's own loss, for long epochs


def test_the_progress_line_shows_each_epochs_mean_not_the_first_step(small_run):
    printed, _, by_epoch = small_run
    shown = [float(v) for v in re.findall(r"^epoch \d/2 step \d+: .*train/loss (\S+)", printed, re.M)]
    assert len(shown) == 2 and "train/step_loss" not in printed
    for epoch, value in enumerate(shown):
        assert value == pytest.approx(mean(by_epoch[epoch]), rel=1e-3)
        assert value != pytest.approx(by_epoch[epoch][0][0], rel=1e-3)  # not the step-0 value repeated
