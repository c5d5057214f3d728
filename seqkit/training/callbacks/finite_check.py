"""Stop training at the first NaN/inf loss or gradient, before it reaches the weights or a checkpoint."""

from __future__ import annotations

import math
from typing import Optional

import pytorch_lightning as pl
import torch

from seqkit.training.optim import grad_norm, is_finite


class NonFiniteError(ValueError):
    """Training produced a NaN or infinite value (a ValueError: the scripts print it as one ``error:`` line)."""


class FiniteCheck(pl.Callback):
    """Check the training loss before backward, and (``check_gradients``) the gradients before the optimiser
    step, so the weights and every checkpoint written so far keep their last finite values.

    Under fp16 mixed precision (``trainer.precision=16-mixed``) a non-finite gradient is the gradient scaler's
    signal: it skips that step and halves its scale, which happens in the first steps of every fp16 run. So with
    an active scaler the callback stops only after ``max_scaler_skips`` such steps in a row (the scale is then
    2^-max_scaler_skips of where it was: the gradients are not finite at any scale).

    Raises NonFiniteError naming the epoch and step, the last good checkpoint, and what to try.
    The check costs one device sync a step (and one norm over the gradients).
    """

    def __init__(self, check_gradients: bool = True, max_scaler_skips: int = 25):
        self.check_gradients = check_gradients
        self.max_scaler_skips = max_scaler_skips
        self._skipped = 0  # non-finite gradients in a row that an active gradient scaler skipped

    def on_before_backward(self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor) -> None:
        if not bool(torch.isfinite(loss.detach()).all()):
            self._stop(trainer, f"the training loss is {_describe(loss)}")

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        if not self.check_gradients:
            return
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if not grads or bool(torch.isfinite(grad_norm(grads, norm_type=math.inf))):
            self._skipped = 0
            return
        scaler = getattr(getattr(trainer, "precision_plugin", None), "scaler", None)
        scaling = ""
        if scaler is not None and scaler.is_enabled():
            self._skipped += 1
            if self._skipped < self.max_scaler_skips:
                return  # the scaler skips this step and lowers its scale
            scaling = (
                f" in {self._skipped} steps in a row under fp16 gradient scaling (scale now {scaler.get_scale():g})"
            )
        model = getattr(pl_module, "network", pl_module)  # seqkit.training.TaskModule: names within its network
        bad = next(name for name, p in model.named_parameters() if not is_finite(p.grad))
        self._stop(trainer, f"the gradient of {bad} is not finite{scaling}")

    @staticmethod
    def _stop(trainer: pl.Trainer, what: str) -> None:
        last = _last_checkpoint(trainer)
        kept = f"; the last good checkpoint is {last}" if last else ""
        raise NonFiniteError(
            f"{what} at epoch {trainer.current_epoch + 1}, step {trainer.global_step + 1}: training stopped before "
            f"the update{kept}. Try a lower learning rate (optimizer.lr=<lower value>) or gradient clipping "
            f"(trainer.gradient_clip_val=1.0)"
        )


def _describe(loss: torch.Tensor) -> str:
    value = loss.detach().float()
    return "NaN" if bool(torch.isnan(value).any()) else "infinite"


def _last_checkpoint(trainer: pl.Trainer) -> Optional[str]:
    """last.ckpt (the latest epoch's) when written, else the best checkpoint so far, else None."""
    from seqkit.training.checkpoint_io import last_checkpoint

    best = [getattr(cb, "best_model_path", "") for cb in trainer.checkpoint_callbacks]
    return last_checkpoint(trainer) or next((p for p in best if p), None)
