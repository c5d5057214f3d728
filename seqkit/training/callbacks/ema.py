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
        # Parameters only: buffers are not averaged (a pretrained table is 20M floats), the average shares the
        # model's own (setup).
        super().__init__(decay=decay, update_starting_at_step=update_starting_at_step, use_buffers=False)

    @staticmethod
    def _fitting(trainer: pl.Trainer) -> bool:
        return trainer.state.fn == TrainerFn.FITTING

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Lightning's setup copies the model into the average; the copy's buffers are then replaced by the model's
        own tensors. So a buffer set after this copy (forecasting's least-squares baseline, at fit start) is the one
        validation and the checkpoint see, and torch's per-update buffer copy (``use_buffers=False``) copies each
        buffer onto itself, which it skips, instead of 20M floats of a pretrained table every step."""
        super().setup(trainer, pl_module, stage)
        if stage == "fit" and self._average_model is not None:
            copies = dict(self._average_model.module.named_modules())
            for name, module in pl_module.named_modules():
                for buffer_name, buffer in module.named_buffers(recurse=False):
                    setattr(copies[name], buffer_name, buffer)

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]):
        if self._fitting(trainer):
            super().on_load_checkpoint(trainer, pl_module, checkpoint)

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._fitting(trainer):
            super().on_validation_epoch_start(trainer, pl_module)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._fitting(trainer):
            super().on_validation_epoch_end(trainer, pl_module)
