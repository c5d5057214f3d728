"""Checkpoints written so that a reader, or a crash at any moment, sees the old file or the new, never a part.

Lightning 2.6 saves a checkpoint through fsspec's transaction: it writes a temporary file made by
``tempfile.mkstemp()`` (under $TMPDIR) and ``shutil.move``s it onto the target. When $TMPDIR is another file
system, the move is a copy into the truncated target, and nothing is fsynced: a process killed, or a machine
losing power, during that copy leaves a half-written ``last.ckpt`` and no older one. ``AtomicCheckpointIO``
writes through ``seqkit.safe_files.atomic_path`` instead: a temporary file beside the target (the same file
system, so the rename is atomic), fsynced before the rename, the directory fsynced after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch
from lightning_fabric.plugins import TorchCheckpointIO

from seqkit.safe_files import atomic_path


def _is_local(path: Any) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer (``Trainer(plugins=[...])``) with atomic replacement for local files: every
    checkpoint seqkit's training writes (best.ckpt, last.ckpt, swa.ckpt) is either the new one or still the
    previous one. Remote URLs (s3://, ...) keep Lightning's own transaction."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(str(path).removeprefix("file://"))
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as temp, open(temp, "wb") as f:
            torch.save(checkpoint, f)


LAST = "last.ckpt"  # the latest checkpoint of a run, which resuming starts from


def last_checkpoint(trainer: Any) -> str:
    """The run's ``checkpoints/last.ckpt`` once a checkpoint callback has written it (the ``last_checkpoint`` of
    seqkit/configs/callbacks/default.yaml at every epoch's end, ``step_checkpoint`` every N steps), else ""."""
    for callback in trainer.checkpoint_callbacks:
        for path in (getattr(callback, "last_model_path", ""), getattr(callback, "best_model_path", "")):
            if path and Path(path).name == LAST:
                return path
    return ""
