"""``seqkit --help`` and ``seqkit <command> --help`` (and ``python scripts/<command>.py --help``): what there is, in a
screenful: the commands, the tasks (each with its config's first comment line), the config groups and their
choices, each command's settings, and where the configs live: the shipped ``seqkit/configs`` plus the user's
folders (``--config-dir DIR``, ``hydra.searchpath=[file://DIR]``). Hydra's whole tree stays one flag away
(``--cfg job``, ``--hydra-help``). Reads the YAML files as text: imports neither Hydra's runner nor Lightning."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from seqkit.app.cli import discard_stdout
from seqkit.app.config import CONFIG_PATH, CONFIGS
from seqkit.app.config_reference import read_keys

WIDTH = 100  # the longest line printed (a longer description is cut with "...", a list wraps)

# command -> (what it does, an example of its arguments)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "train": ("train a task's model, test it", "task=sentiment backbone=gru"),
    "evaluate": ("score a checkpoint on a file", "ckpt_path=<ckpt> data.test_path=<file>"),
    "predict": ("label new input (JSON lines)", "ckpt_path=<ckpt> input=<file or ->"),
    "generate": ("sample from a language model", 'ckpt_path=<ckpt> prompt="ROMEO:"'),
    "export": ("write ONNX/TorchScript graphs", "ckpt_path=<ckpt> format=onnx"),
    "serve": ("serve a checkpoint over HTTP", "ckpt_path=<ckpt> port=8000"),
    "prepare": ("tokenise a big text once (task=lm)", "data.train_path=<text> [data.level=word]"),
}
HELP_FLAGS = ("--help", "-h")
_CONFIG_DIR_FLAGS = ("--config-dir", "-cd")


def wants_help(argv: Sequence[str]) -> bool:
    """``--help`` or ``-h`` among the arguments (Hydra's own help is ``--hydra-help``)."""
    return any(arg in HELP_FLAGS for arg in argv)


def show(text: str) -> None:
    """Print a help text; a closed standard output (``| head -3``) ends quietly with exit status 141, as the
    commands do (seqkit.app.cli.report_errors)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        discard_stdout()
        sys.exit(141)


def user_config_dirs(argv: Sequence[str]) -> List[Path]:
    """The config folders a command line adds to the shipped ones: ``--config-dir DIR`` (``-cd DIR``,
    ``--config-dir=DIR``) and the ``file://`` entries of ``hydra.searchpath=[...]``."""
    found: List[str] = []
    for i, arg in enumerate(argv):
        flag, eq, value = arg.partition("=")
        if flag in _CONFIG_DIR_FLAGS:
            if eq:
                found.append(value)
            elif i + 1 < len(argv):
                found.append(argv[i + 1])
        elif arg.lstrip("+").startswith("hydra.searchpath="):
            entries = (e.strip().strip("'\"") for e in value.strip().strip("[]").split(","))
            found += [e[len("file://") :] for e in entries if e.startswith("file://")]
    return [Path(p).expanduser().resolve() for p in found if p]


def config_folders(argv: Sequence[str]) -> List[Tuple[Path, str]]:
    """(folder, how it is named) of every config folder, the shipped one first."""
    return [(CONFIGS, f"shipped, {CONFIG_PATH}"), *((d, "yours") for d in user_config_dirs(argv))]


def group_choices(folders: Sequence[Tuple[Path, str]]) -> Dict[str, Dict[str, Path]]:
    """group -> {choice: its file}, over every folder (the first folder's file wins a name both hold, as in Hydra's
    search path, where the shipped configs come before ``--config-dir``)."""
    groups: Dict[str, Dict[str, Path]] = {}
    for folder, _ in folders:
        if not folder.is_dir():
            continue
        for group in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
            for file in sorted(group.glob("*.yaml")):
                groups.setdefault(group.name, {}).setdefault(file.stem, file)
    return groups


def description(file: Path) -> str:
    """A config's first comment line (after ``# @package ...``): what it is."""
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for line in lines:
        text = line.strip()
        if not text.startswith("#"):
            break
        text = text.lstrip("#").strip()
        if text and not text.startswith("@package"):
            return text
    return ""


def _cut(line: str, width: int = WIDTH) -> str:
    return line if len(line) <= width else line[: width - 3].rstrip() + "..."


def _defaults(config: Path) -> Dict[str, str]:
    """``group: choice`` entries of a primary config's defaults list (read as text: no Hydra needed)."""
    chosen: Dict[str, str] = {}
    in_defaults = False
    for line in config.read_text(encoding="utf-8").splitlines():
        if re.match(r"^defaults:\s*(#.*)?$", line):
            in_defaults = True
            continue
        if in_defaults:
            match = re.match(r"^\s+-\s+([\w/]+):\s*(\w+)", line)
            if match and not line.strip().startswith("- override"):
                chosen[match.group(1)] = match.group(2)
            elif line and not line.startswith((" ", "#")):
                break
    return chosen


def _where(folders: Sequence[Tuple[Path, str]], argv: Sequence[str]) -> List[str]:
    lines = [f"configs: {folder} ({how})" for folder, how in folders]
    if not user_config_dirs(argv):
        lines.append("  yours beside them: --config-dir DIR, where DIR/task/my_task.yaml is task=my_task")
    return lines


def _tasks(groups: Dict[str, Dict[str, Path]], folders: Sequence[Tuple[Path, str]]) -> List[str]:
    shipped = folders[0][0]
    lines = []
    for name, file in sorted(groups.get("task", {}).items()):
        mark = "" if file.is_relative_to(shipped) else "(yours) "
        lines.append(_cut(f"  {name:<16}{mark}{description(file)}"))
    return lines


def overview(argv: Sequence[str] = ()) -> str:
    """``seqkit --help``."""
    folders = config_folders(argv)
    groups = group_choices(folders)
    width = max(map(len, COMMANDS))
    lines = [
        "usage: seqkit <command> [group=choice] [key=value ...] [--config-dir DIR]",
        "",
        "Recurrent sequence models (RNN, LSTM, GRU) for every input/output shape. Commands:",
        *(_cut(f"  {n:<{width}}  {what:<30} seqkit {n} {ex}") for n, (what, ex) in COMMANDS.items()),
        "",
        "tasks (seqkit train task=<name>):",
        *_tasks(groups, folders),
        "",
        f"config groups: {', '.join(sorted(groups))}",
        *_where(folders, argv),
        "runs: outputs/<task>/runs/<date_time>_<pid>/ under the current folder (or hydra.run.dir=<folder>)",
        "",
        "more: seqkit <command> --help (its settings); seqkit train task=<name> --cfg job (every setting,",
        "      composed); seqkit train --hydra-help (Hydra's own flags: -m, --cfg, --config-dir, --info)",
    ]
    return "\n".join(lines)


def command_help(command: str, argv: Sequence[str] = (), prog: Optional[str] = None) -> str:
    """``seqkit <command> --help`` (``prog``: how the command is called, e.g. ``python scripts/train.py``)."""
    prog = prog or f"seqkit {command}"
    folders = config_folders(argv)
    if command == "train":
        return _train_help(prog, folders, argv)
    what, example = COMMANDS[command]
    lines = [
        f"usage: {prog} key=value ...",
        "",
        f"{what[0].upper()}{what[1:]}: {prog} {example}",
        "settings (key=default; ??? = required):",
        *_settings(CONFIGS / f"{command}.yaml"),
        "",
        f"more: {prog} ... --cfg job (composed config); --hydra-help (Hydra's flags); seqkit --help",
    ]
    return "\n".join(lines)


def _train_help(prog: str, folders: Sequence[Tuple[Path, str]], argv: Sequence[str]) -> str:
    groups = group_choices(folders)
    defaults = _defaults(CONFIGS / "train.yaml")
    width = max(map(len, groups), default=4) + 2
    lines = [
        f"usage: {prog} [group=choice] [key=value ...] [--config-dir DIR] [-m] [--cfg job]",
        "",
        "Train a task's model, then validate and test its best checkpoint; the last line is JSON metrics.",
        f"e.g. {prog} task=sentiment backbone=gru backbone.hidden_size=256 trainer.max_epochs=5",
        "",
        f"tasks (task=<name>, default {defaults.get('task', 'sentiment')}):",
        *_tasks(groups, folders),
        "",
        "config groups (group=choice; * marks the default):",
    ]
    for group in sorted(g for g in groups if g != "task"):
        default = defaults.get(group)
        choices = [f"{c}*" if c == default else c for c in sorted(groups[group])]
        text = ", ".join(choices) + ("" if default else " (none by default)")
        lines += textwrap.wrap(text, WIDTH, initial_indent=f"  {group:<{width}}", subsequent_indent=" " * (width + 2))
    lines += [
        "",
        "settings: seed=42 threads=null test=true plugins=[<module>] ckpt_path=last|<run dir>|<ckpt> (resume)",
        "  and any key of the composed config: backbone.hidden_size=256 data.train_path=<file> ...",
        *_where(folders, argv),
        "runs: outputs/<task>/runs/<date_time>_<pid>/ under the current folder (or hydra.run.dir=<folder>)",
        "",
        f"more: {prog} task=<name> --cfg job (every setting, composed); --hydra-help (Hydra's flags)",
    ]
    return "\n".join(lines)


_SKIPPED = ("defaults", "hydra", "trainer")  # Hydra's own and the accelerator's: in --cfg job, not here


def _settings(config: Path) -> List[str]:
    """``key=default   comment`` for every setting of a command's config (nested keys dotted), read as text by
    the configuration reference's reader (the comment on a key's line is its meaning)."""
    return [
        _cut(f"  {key.path + '=' + key.default:<28} {key.meaning or ''}".rstrip())
        for key in read_keys(config)
        if key.default and key.path.split(".")[0] not in _SKIPPED
    ]
