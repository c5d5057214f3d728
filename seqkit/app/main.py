"""The scripts' entry into the application: compose the config from the command line (Hydra's compose API),
run the command on (network, codec), report bad data or settings as one line ``error: ...``."""

from __future__ import annotations

from typing import Any, Callable, List

from seqkit.app.config import compose
from seqkit.cli import report_errors


def run_script(config_name: str, argv: List[str], command: Callable[[Any], Any]) -> bool:
    """True when ``command`` ran (or reported an error and exited); False when the command line or the checkpoint
    needs the old path (``@hydra.main`` and ``seqkit.run``)."""
    cfg = compose(config_name, argv)
    if cfg is None:
        return False
    return report_errors(command)(cfg) is not None
