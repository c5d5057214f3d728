"""Progress output that fits where it goes: a live bar on a terminal, a few plain lines in a log file."""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, Optional

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, TQDMProgressBar

from seqkit.training.module import EPOCH_LOSS, STEP_LOSS


def progress_bar(enabled: bool = True, every_n_steps: int = 0, stream: Any = None) -> Optional[ProgressBar]:
    """Chosen when the trainer is built: Lightning's live bar when standard output is a terminal; otherwise
    (CI, nohup, a file) a LineProgressBar, since each redraw of a bar becomes a line of the log. None when
    progress output is off (``trainer.enable_progress_bar=false``)."""
    if not enabled:
        return None
    stream = sys.stdout if stream is None else stream
    if getattr(stream, "isatty", lambda: False)():
        return TQDMProgressBar()
    return LineProgressBar(every_n_steps)


class LineProgressBar(ProgressBar):
    """One line a training epoch (and one every ``every_n_steps`` steps when > 0), with the progress-bar
    metrics: ``epoch 3/10 step 282: train/loss 0.412 val/acc 0.861 ... (4.1 s)``. The epoch's line shows
    ``train/loss``, the epoch's mean; a line within an epoch shows ``train/step_loss``, the last logged step's
    loss, instead (``train/loss`` is then still the previous epoch's)."""

    def __init__(self, every_n_steps: int = 0):
        super().__init__()
        self.every_n_steps = int(every_n_steps or 0)
        self._enabled = True
        self._epoch_start = time.monotonic()

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _line(self, trainer: pl.Trainer, pl_module: pl.LightningModule, seconds: Optional[float] = None) -> None:
        if not self._enabled:
            return
        metrics = self.get_metrics(trainer, pl_module)
        stale = {"v_num", STEP_LOSS if seconds is not None else EPOCH_LOSS}
        values = " ".join(f"{k} {_fmt(v)}" for k, v in sorted(metrics.items()) if k not in stale)
        total = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        timing = f" ({seconds:.1f} s)" if seconds is not None else ""
        print(
            f"epoch {trainer.current_epoch + 1}/{total} step {trainer.global_step}: {values}{timing}".rstrip(),
            flush=True,
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.monotonic()

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._line(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._line(trainer, pl_module, time.monotonic() - self._epoch_start)

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> Dict[str, Any]:
        return {k: v for k, v in super().get_metrics(trainer, pl_module).items() if v != ""}


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)
