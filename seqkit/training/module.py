"""``TaskModule``: the one LightningModule, for every shape. It composes the shape's plain-torch network (the
registry's ``Shape.network``) and its metrics (``Shape.metrics``); everything the shape knows lives there.

Optimisers, schedulers, sparse embeddings, fused optimisers and gradient clipping come from
``seqkit.models.base.SeqkitModule`` (reused, not copied).
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from torch import Tensor

from seqkit import tasks
from seqkit.checkpoint import FORMAT_VERSION  # 2: checkpoints with checkpoint["seqkit"]["shape"] and the codec state
from seqkit.models.base import SeqkitModule, class_path

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}
_NOT_HPARAMS = ("pretrained_vectors", "pretrained_rows")  # tensors from the codec, rebuilt from the data on load


class TaskModule(SeqkitModule):
    """Train any registered shape.

    Args:
        shape: a registered shape name ("classification", ...).
        optimizer, scheduler: see ``SeqkitModule``.
        **network_kwargs: the network's arguments (``model.<key>=`` overrides), plus the sizes the codec gives.

    Logs ``train/loss`` (and the loss's named parts), and ``{val,test}/<name>`` for every figure of the shape's
    metrics at the end of each evaluation epoch. ``self.network`` holds the weights (``network.`` prefix).
    """

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
        for name, value in metrics.compute().items():
            self.log(f"{stage}/{name}", float(value), prog_bar=stage == "val" and name in metrics.progress)
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

    def on_load_checkpoint(self, checkpoint: Dict[str, Any]) -> None:
        """An old checkpoint (its weights without the ``network.`` prefix) resumes here too."""
        weights = checkpoint.get("state_dict") or {}
        if weights and not any(k.startswith("network.") for k in weights):
            checkpoint["state_dict"] = {f"network.{k}": v for k, v in weights.items()}
