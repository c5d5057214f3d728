"""Refuse, in one line, a run directory that cannot be written, before Hydra tries to create it.

Hydra creates ``hydra.run.dir`` (``hydra.sweep.dir`` for -m) before the task starts, and reports a failure
with a traceback; this Hydra callback (configs/train.yaml ``hydra.callbacks``) checks first.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


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
    def _check(self, config: DictConfig, key: str) -> None:
        try:
            HydraConfig.instance().set_config(config)
            directory = Path(str(OmegaConf.select(config, key))).expanduser().absolute()
        except Exception:  # an unresolvable setting: leave the report to Hydra
            return
        reason = unwritable_reason(directory)
        if reason:
            print(f"error: cannot write the run directory {directory}: {reason} (choose another with {key}=...)",
                  file=sys.stderr)
            sys.exit(1)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")
