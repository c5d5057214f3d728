"""Test-only callback (wired in with ``+callbacks.slow._target_=slow_epoch.SlowEpoch``): from epoch ``epoch`` on,
touch ``marker`` at the epoch's start and sleep ``seconds`` a batch, so a test can SIGKILL the process part-way
through that epoch, after the previous epoch's checkpoint is on disk. Sleeping draws no random numbers."""

import time
from pathlib import Path

import pytorch_lightning as pl


class SlowEpoch(pl.Callback):
    def __init__(self, epoch: int, marker: str, seconds: float = 0.2):
        self.epoch, self.marker, self.seconds = epoch, Path(marker), seconds

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch >= self.epoch:
            self.marker.write_text(str(trainer.current_epoch))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch >= self.epoch:
            time.sleep(self.seconds)
