"""Train on the current weights, evaluate and keep an exponential moving average of them."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EMAWeightAveraging
from pytorch_lightning.trainer.states import TrainerFn


class EMAWeights(EMAWeightAveraging):
    """Lightning's :class:`~pytorch_lightning.callbacks.EMAWeightAveraging`, whose averaged weights are also what a
    checkpoint is evaluated with after training.

    While fitting, validation runs on the average and every checkpoint's ``state_dict`` holds it (the current
    weights go to ``current_model_state``, which resuming reads). Lightning's callback also loads
    ``current_model_state`` when ``trainer.validate`` or ``trainer.test`` restores a checkpoint, and swaps the
    weights of the end of training in for validation, so the best epoch's average would be scored by its raw
    weights; here both happen while fitting only, and evaluation reads ``state_dict``, as ``predict`` and export do.

    Args:
        decay: the average's weight on its past at each update (its horizon is about ``1 / (1 - decay)`` steps).
        update_starting_at_step: the first training step that updates the average (None: from the first).
    """

    def __init__(self, decay: float = 0.999, update_starting_at_step: int | None = None):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"callbacks.ema.decay must be between 0 and 1 (exclusive), got {decay}")
        # Parameters only: with use_buffers=False torch's AveragedModel copies the model's buffers at each update
        # instead of averaging them (a pretrained table is 20M floats). _sync_buffers also copies them before a
        # validation or checkpoint that comes before the first update (update_starting_at_step), so a buffer set
        # after this callback's setup copied the model (forecasting's least-squares baseline, at fit start) is
        # never the stale copy.
        super().__init__(decay=decay, update_starting_at_step=update_starting_at_step, use_buffers=False)

    @staticmethod
    def _fitting(trainer: pl.Trainer) -> bool:
        return trainer.state.fn == TrainerFn.FITTING

    def _sync_buffers(self, pl_module: pl.LightningModule) -> None:
        if self._average_model is not None:
            for average, current in zip(self._average_model.module.buffers(), pl_module.buffers()):
                average.copy_(current)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]):
        self._sync_buffers(pl_module)
        super().on_save_checkpoint(trainer, pl_module, checkpoint)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sync_buffers(pl_module)
        super().on_train_end(trainer, pl_module)

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]):
        if self._fitting(trainer):
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._fitting(trainer):
            self._sync_buffers(pl_module)
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._fitting(trainer):
            super().on_validation_epoch_end(trainer, pl_module)
