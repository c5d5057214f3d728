"""Run directories: refuse one that cannot be written, name each uniquely, remember which this command made,
and lock each while a process trains in it.

Hydra creates ``hydra.run.dir`` (``hydra.sweep.dir`` for -m) before the task starts, and reports a failure
with a traceback; this Hydra callback (seqkit/configs/train.yaml ``hydra.callbacks``) checks first.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Optional, Set

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from seqkit.data.errors import DataError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def unwritable_reason(directory: Path) -> Optional[str]:
    """Why ``directory`` cannot be created or written, or None: the nearest existing path on the way must be a
    writable directory."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


class WritableRunDir(Callback):
    """Also notes whether the directory is new (it runs before Hydra creates it): see made_by_this_command."""

    def _check(self, config: DictConfig, key: str) -> None:
        try:
            HydraConfig.instance().set_config(config)
            directory = Path(str(OmegaConf.select(config, key))).expanduser().absolute()
        except Exception:  # an unresolvable setting: leave the report to Hydra
            return
        reason = unwritable_reason(directory)
        if reason:
            print(
                f"error: cannot write the run directory {directory}: {reason} (choose another with {key}=...)",
                file=sys.stderr,
            )
            sys.exit(1)
        _remember_if_new(directory)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")


# ---- unique run directory names ------------------------------------------------------------------------------------
# seqkit/configs/train.yaml names a run's directory by its start time and the training process's id,
# outputs/<task>/runs/<date_time>_<pid>: two runs started in the same second (a script starting several, a
# scheduler) get two directories instead of sharing one and overwriting each other's checkpoints. Registered
# on import: scripts/train.py imports seqkit.app.train (which imports this) before @hydra.main composes the config.
if not OmegaConf.has_resolver("pid"):
    OmegaConf.register_new_resolver("pid", os.getpid)


# ---- which run directories this command made -------------------------------------------------------------------
_made_here: Set[Path] = set()  # run directories, and sweep directories, that did not exist before this command


def _remember_if_new(directory: Path) -> None:
    if not directory.exists():
        _made_here.add(directory.resolve())


def made_by_this_command(directory: Path) -> bool:
    """Whether Hydra created ``directory`` for this command (as its run directory, or a job's directory in a sweep
    directory it created): only then may a resume remove it. False outside Hydra (a notebook, a test)."""
    directory = directory.resolve()
    return directory in _made_here or directory.parent in _made_here


# ---- the lock a training process holds on its run directory --------------------------------------------------------
LOCK_FILE = ".train.lock"


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``run_dir/.train.lock`` (fcntl.flock) while training: ``ckpt_path=last`` skips a run whose lock is
    held, and a second process refuses to train into the directory. The operating system releases the lock when
    the process ends, however it ends, so a killed run can be resumed."""
    if fcntl is None:  # Windows: no flock; runs are not protected from each other
        yield
        return
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if _lock(fd, run_dir):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock(fd: int, run_dir: Path, tries: int = 20) -> bool:
    """Take the lock; DataError while another process holds it (is_running's probe holds it for an instant: tried
    again for a second). False where the file system has no locks (the run trains unprotected)."""
    for attempt in range(tries):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt == tries - 1:
                raise DataError(run_dir, None, in_use_reason(run_dir)) from None
            time.sleep(0.05)
        except OSError:  # no locking on this file system
            return False
    return False


def is_running(run_dir: Path) -> bool:
    """Whether a training process holds ``run_dir``'s lock (a run without a lock file is not running)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(run_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no locking on this file system: nothing can be said
        return False
    finally:
        os.close(fd)
    return False


def in_use_reason(run_dir: Path) -> str:
    """The one-line reason for refusing to train into a run directory that another process is training in."""
    try:
        pid = (run_dir / LOCK_FILE).read_text().strip()
    except OSError:
        pid = ""
    holder = f"process {pid}" if pid.isdigit() else "another process"
    return (
        f"is in use: {holder} is still training in it (wait for it to end, or stop it; "
        f"a run that was killed can be resumed)"
    )
