"""Test-only: run scripts/train.py as a user would (``python tests/patched_train.py <train.py arguments>``), with
faults injected where the environment asks for them:

FROZEN_TIME="2026-01-02 03:04:05"
    Hydra's ``${now:...}`` reads this time: runs started by separate processes start "in the same second".
KILL_AT_LAST_CKPT_WRITE=n
    The process dies (``os._exit``: nothing flushed or cleaned up, as under SIGKILL) half-way through putting
    the bytes of the n-th ``last.ckpt`` onto the disk, wherever that happens: ``torch.save`` into a file, or
    the copy onto the target that ``shutil.move`` makes when its rename crosses file systems. Every rename
    between two directories is made to cross file systems here, as it does when $TMPDIR is another device.
"""

import errno
import io
import os
import runpy
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KILLED = 9


def freeze_clock(when: str) -> None:
    import datetime

    import hydra.core.utils

    fixed = datetime.datetime.fromisoformat(when)

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return fixed

    hydra.core.utils.datetime = Frozen  # what Hydra's ${now:} resolver calls


def renames_cross_devices_between_directories() -> None:
    for name in ("rename", "replace"):
        real = getattr(os, name)

        def cross(src, dst, *args, _real=real, **kwargs):
            if os.path.dirname(os.path.abspath(src)) != os.path.dirname(os.path.abspath(dst)):
                raise OSError(errno.EXDEV, "Invalid cross-device link (simulated)", str(src))
            return _real(src, dst, *args, **kwargs)

        setattr(os, name, cross)


def _file_name(f) -> str:
    return f.name if isinstance(f.name, str) else os.readlink(f"/proc/self/fd/{f.fileno()}")


def die_half_way_through_last_ckpt_write(n: int) -> None:
    import torch

    writes = [0]

    def due(target) -> bool:
        """Counts the writes of last.ckpt (or of a temporary file for it): True at the n-th."""
        name = os.path.basename(str(target))
        if name != "last.ckpt" and not (name.startswith(".last.") and name.endswith(".ckpt")):  # or its temporary file
            return False
        writes[0] += 1
        return writes[0] == n

    def die_after(f, data: bytes) -> None:
        f.write(data[: len(data) // 2])
        f.flush()
        os._exit(KILLED)

    real_copyfile = shutil.copyfile

    def copyfile(src, dst, *args, **kwargs):
        if due(dst):
            with open(dst, "wb") as f:  # as the real copyfile: the target is truncated first
                die_after(f, Path(src).read_bytes())
        return real_copyfile(src, dst, *args, **kwargs)

    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        if isinstance(f, io.BufferedIOBase) and not isinstance(f, io.BytesIO) and due(_file_name(f)):
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            die_after(f, buffer.getvalue())
        return real_save(obj, f, *args, **kwargs)

    shutil.copyfile = copyfile
    torch.save = save


if __name__ == "__main__":
    if os.environ.get("FROZEN_TIME"):
        freeze_clock(os.environ["FROZEN_TIME"])
    if os.environ.get("KILL_AT_LAST_CKPT_WRITE"):
        renames_cross_devices_between_directories()
        die_half_way_through_last_ckpt_write(int(os.environ["KILL_AT_LAST_CKPT_WRITE"]))
    script = str(REPO / "scripts" / "train.py")
    sys.argv = [script, *sys.argv[1:]]
    runpy.run_path(script, run_name="__main__")
