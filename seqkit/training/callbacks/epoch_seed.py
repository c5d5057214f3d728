"""Make training epoch k a function of (seed, k), so a resumed run continues exactly as an uninterrupted one."""

from __future__ import annotations

import random

import pytorch_lightning as pl
import torch

from seqkit.data.sampler import epoch_generator


class EpochSeed(pl.Callback):
    """Before each training epoch: tell the training samplers the epoch (``set_epoch``; Lightning does it only
    for ``DataLoader.sampler``, not for a batch sampler or a streamed data set), and before its first batch reseed torch's, Python's
    and numpy's global generators from (seed, epoch), so dropout masks do not depend on how many epochs this
    process ran. Lightning restores the epoch counter from a checkpoint; nothing else random is carried over.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)
        self._seeded_epoch = -1

    def _set_sampler_epoch(self, trainer: pl.Trainer) -> None:
        loader = trainer.train_dataloader
        for sampler in (getattr(loader, name, None) for name in ("sampler", "batch_sampler", "dataset")):
            if callable(getattr(sampler, "set_epoch", None)):
                sampler.set_epoch(trainer.current_epoch)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._set_sampler_epoch(trainer)  # a resumed run may skip on_train_epoch_start of its first epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._set_sampler_epoch(trainer)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        # after the loader has drawn its batch (DataLoader.__iter__ draws a worker seed from the global generator
        # at a point that differs between a fresh and a resumed process), before anything of the step is drawn
        if self._seeded_epoch == trainer.current_epoch:
            return
        self._seeded_epoch = trainer.current_epoch
        seed = int(torch.randint(2**62, (1,), generator=epoch_generator(self.seed, trainer.current_epoch)))
        seed += batch_idx  # 0 unless resumed mid-epoch (which is not exact anyway: the loader restarts)
        torch.manual_seed(seed)
        random.seed(seed)
        try:
            import numpy as np
        except ImportError:
            return
        np.random.seed(seed % 2**32)
