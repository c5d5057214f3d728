"""The commands' entry into the application (``seqkit <command>``, ``python scripts/<command>.py``): compose the
config from the command line (Hydra's compose API), run the command on (network, codec), report bad data or
settings as one line ``error: ...``.

``--help`` prints the command's settings in a screenful (seqkit.app.usage). A command line that only Hydra's
application runner serves (``--hydra-help``, ``-m``, ``--cfg``, ``--config-dir``, a malformed override, which Hydra
then reports) runs the same command under ``@hydra.main``: one path either way.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, List, Optional

from seqkit.app.cli import report_errors
from seqkit.app.config import CONFIG_PATH, compose
from seqkit.app.usage import command_help, show, wants_help

COMMANDS = {  # config name -> the command, "module:function" (imported when run)
    "predict": "seqkit.app.predict:predict",
    "evaluate": "seqkit.app.evaluate:evaluate",
    "generate": "seqkit.app.generate:generate",
    "export": "seqkit.app.export:export",
    "serve": "seqkit.app.serve:serve",
}


def main(config_name: str, argv: Optional[List[str]] = None, prog: Optional[str] = None) -> Any:
    """Run ``seqkit/configs/<config_name>.yaml``'s command with ``argv`` (the script's arguments, by default
    ``sys.argv``'s) as overrides -> what the command returned (under ``@hydra.main`` or for ``--help``: None).
    ``prog``: how the command was called, for its help (default ``python scripts/<config_name>.py``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_help(argv):
        show(command_help(config_name, argv, prog or f"python scripts/{config_name}.py"))
        return None
    module, _, name = COMMANDS[config_name].partition(":")
    command = report_errors(getattr(importlib.import_module(module), name))
    cfg = compose(config_name, argv)
    if cfg is not None:
        return command(cfg)
    import hydra

    sys.argv = [sys.argv[0], *argv]
    hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name=config_name)(command)()
    return None
