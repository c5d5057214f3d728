"""Replace a file so that a reader, or a crash at any moment, sees the old contents or the new, never a part.

Lightning 2.6 saves a checkpoint through fsspec's transaction: it writes a temporary file made by
``tempfile.mkstemp()`` (under $TMPDIR) and ``shutil.move``s it onto the target. When $TMPDIR is another file
system, the move is a copy into the truncated target, and nothing is fsynced: a process killed, or a machine
losing power, during that copy leaves a half-written ``last.ckpt`` and no older one. Here the temporary file
is made beside the target (the same file system, so ``os.replace`` is one atomic rename), flushed and fsynced
before the rename, and the directory is fsynced after it, so the rename itself survives a power loss.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Optional, Union

import torch
from lightning_fabric.plugins import TorchCheckpointIO


def write_atomically(path: Union[str, Path], write: Callable[[IO[bytes]], Any]) -> None:
    """Call ``write(f)`` on a new file beside ``path``, make it durable, then rename it onto ``path``; on any
    failure the temporary file is removed and ``path`` is as it was."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, _mode_for(path))
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    fsync_directory(path.parent)


def _mode_for(path: Path) -> int:
    """The permissions ``path`` has, or a plain ``open(path, "w")`` would give it (mkstemp's are 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def fsync_directory(directory: Union[str, Path]) -> None:
    """Make the directory's entries (a rename, a new file) durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _is_local(path: Any) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer (``Trainer(plugins=[...])``) with :func:`write_atomically` for local files:
    every checkpoint seqkit's training writes (best.ckpt, last.ckpt, swa.ckpt) is either the new one or still
    the previous one. Remote URLs (s3://, ...) keep Lightning's own transaction."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None or not _is_local(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        target = Path(str(path).removeprefix("file://"))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, lambda f: torch.save(checkpoint, f))
