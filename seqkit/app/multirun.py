"""A Hydra callback that lets a multirun's sweep directory use ``${hydra:...}`` like a single run's directory.

Hydra makes the sweep directory (``hydra.sweep.dir``) before any job runs, at a time when the ``${hydra:...}``
resolver has no config yet; ``outputs/${task_name}/multiruns/...`` (``task_name: ${hydra:runtime.choices.task}``)
then fails with "HydraConfig was not set". Hydra's own ``--cfg`` printing sets the composed config first;
this does the same for multiruns. The composed config already holds ``hydra.runtime.choices``.
"""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


class SweepDirResolver(Callback):
    """``hydra.callbacks.sweep_dir._target_: seqkit.app.multirun.SweepDirResolver`` (seqkit/configs/train.yaml)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not HydraConfig.initialized():
            HydraConfig.instance().set_config(config)
            OmegaConf.set_readonly(config.hydra, None)  # as Hydra's show_cfg: the sweeper still edits it
