"""The ``seqkit`` command, which ``pip install`` puts on the PATH (``python -m seqkit`` is the same):
``seqkit <command> [overrides]`` with the commands of ``scripts/``: train, evaluate, predict, generate, export, serve.

Each runs exactly what its script runs, with the rest of the command line as the script's arguments: ``train`` is
Hydra's application runner on ``seqkit/configs/train.yaml`` (seqkit.app.train.main), the others compose their
config and run on the checkpoint's (network, codec) without Lightning (seqkit.app.main.main). The configs ship
inside the package, so this works from any folder; runs go under the current one.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import List, Optional

from seqkit.app.usage import COMMANDS, HELP_FLAGS, command_help, overview, show, wants_help

USAGE_ERROR = 2  # the exit status of a command line that names no command, or an unknown one


def main(argv: Optional[List[str]] = None) -> int:
    """``seqkit <command> [arguments]`` -> the exit status (errors inside a command exit on their own, as the
    scripts do: 1 with one line ``error: ...``)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        print(overview(), file=sys.stderr)
        return USAGE_ERROR
    name, rest = argv[0], argv[1:]
    if name in HELP_FLAGS or name == "help":
        if name == "help" and rest and rest[0] in COMMANDS:
            show(command_help(rest[0], rest[1:]))
        else:
            show(overview(rest))
        return 0
    if name == "--version":
        import seqkit

        print(f"seqkit {seqkit.__version__} ({seqkit.__path__[0]})")
        return 0
    if name not in COMMANDS:
        print(f"error: {unknown_command(name)}", file=sys.stderr)
        return USAGE_ERROR
    prog = f"seqkit {name}"
    if wants_help(rest):  # before the command's imports (train's: Lightning)
        show(command_help(name, rest, prog))
        return 0
    if name == "train":
        importlib.import_module("seqkit.app.train").main(rest, prog=prog)
    else:
        importlib.import_module("seqkit.app.main").main(name, rest, prog=prog)
    return 0


def unknown_command(name: str) -> str:
    """One line: what was given, the commands there are (the nearest first, if one is near), and --help."""
    if "=" in name or name.startswith("-"):
        given = f"{name!r} comes before a command"
    else:
        given = f"unknown command {name!r}"
    near = difflib.get_close_matches(name, COMMANDS, n=1)
    hint = f"did you mean 'seqkit {near[0]}'? " if near else ""
    return f"{given}: {hint}the commands are {', '.join(COMMANDS)} (seqkit --help)"
