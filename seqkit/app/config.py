"""A script's command line -> its config, through Hydra's compose API (Hydra's own override grammar), without
Hydra's application runner or Lightning. None where only ``@hydra.main`` can serve the command line (``--help``,
``-m``, ``--cfg``, ``--config-dir``, a malformed override): the script then goes the usual way and Hydra reports it.

The configs ship inside the package (``seqkit/configs``), so an installed seqkit finds them from any folder."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

from omegaconf import DictConfig

CONFIG_MODULE = "seqkit.configs"
CONFIG_PATH = f"pkg://{CONFIG_MODULE}"  # what Hydra's runner is given (``@hydra.main(config_path=...)``)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"  # the same folder on disk (seqkit/configs)


def compose(config_name: str, argv: List[str]) -> Optional[DictConfig]:
    if any(arg.startswith("-") for arg in argv):
        return None
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=list(argv))
    except (HydraException, OmegaConfBaseException):
        return None
