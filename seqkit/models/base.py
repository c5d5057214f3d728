"""What every seqkit LightningModule shares: optimiser/scheduler from config and checkpoint metadata."""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from seqkit.checkpoint import FORMAT_VERSION
from seqkit.optim import (
    DenseSparseOptimizer,
    clip_grad_norm_,
    clip_grad_value_,
    has_sparse_grad,
    lazy_adam,
    sparse_parameters,
)


def class_path(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


class SeqkitModule(pl.LightningModule):
    """Base class. Subclasses call ``self.save_hyperparameters(...)`` with plain Python values only, so a
    checkpoint loads with ``torch.load(weights_only=True)``.

    optimizer: ``{"_target_": "torch.optim.Adam", "lr": 1e-3, ...}`` (any torch optimiser, built on the
        trainable parameters).
    scheduler: ``None`` or ``{"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", ...}``; plateau
        schedulers watch ``monitor``, others step once an epoch.
    monitor: the metric that picks the best checkpoint, given by ``seqkit.run.train`` from the config's
        ``monitor.metric`` (its one home, which the checkpoint and early-stopping callbacks read too).
    """

    monitor: Optional[str] = None

    def configure_optimizers(self):
        spec: Dict[str, Any] = dict(self.hparams.optimizer)
        if spec.get("fused") and self._clips_under_mixed_precision():
            # a fused optimiser unscales the gradients inside step(), after Lightning would have clipped them
            # (Lightning refuses the combination): torch's foreach kernel is the same update
            spec["fused"] = False
            print(
                "[seqkit] mixed precision with gradient clipping: the optimiser runs unfused (foreach), since a fused "
                "one unscales its gradients only inside step()",
                flush=True,
            )
        sparse = sparse_parameters(self)
        params = [p for p in self.parameters() if p.requires_grad and not any(p is q for q in sparse)]
        optimizer = instantiate(spec, params=params, _convert_="all")
        if sparse:
            optimizer = DenseSparseOptimizer(optimizer, lazy_adam(spec, sparse))
        sched_spec: Optional[Dict[str, Any]] = self.hparams.get("scheduler")
        if not sched_spec:
            return optimizer
        scheduler = instantiate(dict(sched_spec), optimizer=optimizer, _convert_="all")
        if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
        if self.monitor is None:
            raise ValueError(
                "a plateau learning-rate scheduler watches the monitored metric: set monitor.metric in the config"
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": self.monitor, "interval": "epoch"},
        }

    def _clips_under_mixed_precision(self) -> bool:
        trainer = self._trainer
        return bool(trainer is not None and trainer.gradient_clip_val and "mixed" in str(trainer.precision))

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        """Lightning's clipping, except that with sparse embedding gradients (which torch's clip_grad_norm_
        rejects) the norm counts them too, so ``trainer.gradient_clip_val`` clips exactly as with dense ones."""
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if not gradient_clip_val or not has_sparse_grad(params):
            return self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)
        if gradient_clip_algorithm in (None, "norm"):
            clip_grad_norm_(params, gradient_clip_val)
        else:
            clip_grad_value_(params, gradient_clip_val)

    def log_train_loss(self, loss, batch_size: int, **parts) -> None:
        """Log the training loss (and named ``parts`` of it, as ``train/<name>``) only on the steps the
        loggers write (``trainer.log_every_n_steps``): ``self.log`` costs about a millisecond a call, a few
        percent of a small model's step."""
        if self._trainer is None:  # called outside a Trainer: nowhere to log
            return
        if self.global_step % max(self.trainer.log_every_n_steps, 1) == 0:
            self.log("train/loss", loss, prog_bar=True, batch_size=batch_size)
            for name, value in parts.items():
                self.log(f"train/{name}", value, batch_size=batch_size)

    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        """Record which classes to rebuild, so ``scripts/predict.py ckpt_path=...`` needs nothing else."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint["seqkit"] = {
            "format_version": FORMAT_VERSION,
            "model_class": class_path(self),
            "datamodule_class": None if datamodule is None else class_path(datamodule),
        }
