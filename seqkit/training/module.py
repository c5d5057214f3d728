"""``TaskModule``: the one LightningModule, for every shape. It composes the shape's plain-torch network (the
registry's ``Shape.network``) and its metrics (``Shape.metrics``); everything the shape knows lives there.

Optimisers and schedulers come from the config (``seqkit.training.optim`` adds sparse embeddings and the clipping
that counts them); a checkpoint holds plain Python values only, so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import Tensor

from seqkit import tasks
from seqkit.checkpoint import (
    FORMAT_VERSION,  # 2: checkpoints with checkpoint["seqkit"]["shape"] and the codec state
    class_path,
)
from seqkit.training.optim import (
    DenseSparseOptimizer,
    clip_grad_norm_,
    clip_grad_value_,
    has_sparse_grad,
    lazy_adam,
    sparse_parameters,
)

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}
EPOCH_LOSS = "train/loss"  # the epoch's mean training loss
STEP_LOSS = "train/step_loss"  # the loss of the logged steps (train/loss is the epoch mean)
_NOT_HPARAMS = ("pretrained_vectors", "pretrained_rows", "char_kinds")  # tensors from the codec: rebuilt from the data
# (the vectors) or read from the weights (the tagger's char_kinds, a buffer) on load


class TaskModule(pl.LightningModule):
    """Train any registered shape.

    Args:
        shape: a registered shape name ("classification", ...).
        optimizer: ``{"_target_": "torch.optim.Adam", "lr": 1e-3, ...}`` (any torch optimiser, built on the
            trainable parameters; sparse embedding rows get a lazy Adam beside it).
        scheduler: ``None`` or ``{"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", ...}``; plateau
            schedulers watch ``monitor``, others step once an epoch.
        **network_kwargs: the network's arguments (``model.<key>=`` overrides), plus the sizes the codec gives.

    Logs ``train/loss`` (the epoch's mean; and the loss's named parts), ``train/step_loss`` every
    ``trainer.log_every_n_steps`` steps, and ``{val,test}/<name>`` for every figure of the shape's
    metrics at the end of each evaluation epoch. ``self.network`` holds the weights (``network.`` prefix).
    """

    monitor: Optional[str] = None  # the metric that picks the best checkpoint: the config's monitor.metric

    def __init__(
        self,
        shape: str,
        optimizer: Optional[Dict[str, Any]] = None,
        scheduler: Optional[Dict[str, Any]] = None,
        **network_kwargs: Any,
    ):
        super().__init__()
        self.shape = tasks.get(shape)
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        self.save_hyperparameters(
            {
                "shape": shape,
                "optimizer": optimizer,
                "scheduler": scheduler,
                **{k: v for k, v in network_kwargs.items() if k not in _NOT_HPARAMS},
            }
        )
        self.network = tasks.load(self.shape.network)(**network_kwargs)  # strict: a misspelt model.<key> is an error
        self._metrics: Dict[str, Any] = {}
        self._carried: Dict[str, Any] = {}  # stage -> the state the network's last call of the stage returned

    def _call(self, stage: str, method: str, batch) -> Dict[str, Any]:
        """``network.<method>(batch)`` through ``seqkit.tasks.registry.call``: the state a network that carries one
        returned at its previous call of this stage goes in (None at each epoch start), the next is kept."""
        out, self._carried[stage] = tasks.registry.call(self.network, method, batch, stage, self._carried.get(stage))
        return out

    def forward(self, *args: Any, **kwargs: Any):
        return self.network(*args, **kwargs)

    # ---- optimisation ------------------------------------------------------------------------
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
        """Log the training loss (and named ``parts`` of it, as ``train/<name>``) as the epoch's mean, weighted by
        ``batch_size`` (Lightning's ``on_epoch`` aggregation): one ``metrics.csv`` row and one progress figure an
        epoch, whatever the number of batches. On the steps the loggers write (``trainer.log_every_n_steps``)
        the step's own value goes to the loggers too, as ``train/step_loss``, for the curve within long epochs."""
        if self._trainer is None:  # called outside a Trainer: nowhere to log
            return
        self.log(EPOCH_LOSS, loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=batch_size)
        for name, value in parts.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, batch_size=batch_size)
        if (self.global_step + 1) % max(self.trainer.log_every_n_steps, 1) == 0:  # the steps Lightning writes
            self.log(STEP_LOSS, loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch_size)

    # ---- training ----------------------------------------------------------------------------
    def training_step(self, batch, batch_idx: int) -> Tensor:
        parts = self._call("train", "loss", batch)
        loss = parts.pop("loss")
        self.log_train_loss(loss, len(batch), **parts)
        return loss

    # ---- evaluation: the shape's metrics, one object a stage ---------------------------------
    def _codec(self) -> Any:
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        return getattr(datamodule, "codec", None)

    def _start(self, stage: str) -> None:
        self._metrics[stage] = tasks.registry.stage_metrics(self.shape, self.network, self._codec(), stage)
        self._carried[stage] = None

    def _step(self, stage: str, batch) -> None:
        self._metrics[stage].update(batch, self._call(stage, "evaluate", batch))

    def _end(self, stage: str) -> None:
        metrics = self._metrics.pop(stage)
        values = metrics.compute()
        for name, value in values.items():
            self.log(f"{stage}/{name}", float(value), prog_bar=stage == "val" and name in metrics.progress)
        if stage == "val" and self.monitor and self.monitor.startswith("val/") and self.monitor[4:] not in values:
            logged = ", ".join(f"val/{name}" for name in values if not name.startswith("series/"))
            raise ValueError(  # before Lightning's checkpoint callback stops on it with a traceback
                f"monitor.metric={self.monitor}: this model logs no such metric (it logs {logged}); "
                f"set monitor.metric=val/loss and monitor.mode=min, or another of them"
            )
        if hasattr(metrics, "report") and self.trainer.state.fn != "fit" and not self.trainer.sanity_checking:
            metrics.report(stage)  # the shape's table on stderr (forecasting: the model next to its baselines)

    def on_fit_start(self) -> None:
        """A network that fits something on the training data before training (``before_training(batches)``:
        forecasting's least-squares baseline) gets the training batches here."""
        datamodule = getattr(self.trainer, "datamodule", None)
        if hasattr(self.network, "before_training") and datamodule is not None:
            self.network.before_training(datamodule.train_dataloader())

    def on_train_epoch_start(self) -> None:
        self._carried["train"] = None

    def on_train_epoch_end(self) -> None:
        """The network's own end-of-epoch report, if it has one (``after_train_epoch(codec, epoch)``: LM samples)."""
        report = getattr(self.network, "after_train_epoch", None)
        if report is not None:
            report(self._codec(), self.current_epoch)

    def on_validation_epoch_start(self) -> None:
        self._start("val")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step("val", batch)

    def on_validation_epoch_end(self) -> None:
        self._end("val")

    def on_test_epoch_start(self) -> None:
        self._start("test")

    def test_step(self, batch, batch_idx: int) -> None:
        self._step("test", batch)

    def on_test_epoch_end(self) -> None:
        self._end("test")

    def predict_step(self, batch, batch_idx: int = 0, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        return self.network.predict(batch)

    # ---- checkpoints -------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        """``checkpoint["seqkit"]``: the shape, and the codec's class, settings and state (what ``seqkit.app.load``
        rebuilds the pair from, without Lightning)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        codec = getattr(datamodule, "codec", None)
        checkpoint["seqkit"] = {
            "format_version": FORMAT_VERSION,
            "shape": self.shape.name,
            "model_class": class_path(self),
            "datamodule_class": None if datamodule is None else class_path(datamodule),
            "codec_class": None if codec is None else f"{type(codec).__module__}:{type(codec).__qualname__}",
            "codec_settings": None if datamodule is None else dict(datamodule.codec_settings),
            "codec": None if codec is None else codec.state_dict(),
        }
