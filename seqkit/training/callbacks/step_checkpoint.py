"""``last.ckpt`` every N training steps, so a long epoch killed half-way loses at most N steps."""

from __future__ import annotations

from typing import Optional

from pytorch_lightning.callbacks import ModelCheckpoint


def step_checkpoint(dirpath: str, every_n_steps: Optional[int] = None) -> Optional[ModelCheckpoint]:
    """A ModelCheckpoint that only refreshes ``dirpath/last.ckpt`` every ``every_n_steps`` steps; None when unset
    (seqkit/configs/callbacks/default.yaml's last_checkpoint already writes it at the end of every epoch). Resuming from a mid-epoch
    checkpoint runs the rest of that epoch's steps, but on batches drawn afresh (Lightning's loaders keep no
    position), so only end-of-epoch resumes continue exactly."""
    if not every_n_steps:
        return None
    if int(every_n_steps) < 1:
        raise ValueError(f"checkpoint.every_n_steps must be a positive number of steps or null, got {every_n_steps}")
    return ModelCheckpoint(
        dirpath=dirpath,
        filename="step",
        monitor=None,
        save_top_k=0,
        save_last=True,
        every_n_train_steps=int(every_n_steps),
    )
