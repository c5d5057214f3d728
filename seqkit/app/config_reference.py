"""The configuration reference: every key of every file in ``seqkit/configs/``, its default and its meaning.

The meaning of a key is the comment on its own line (``key: value   # meaning``), continued on the comment-only
lines right below that start in the same column. The files are read line by line rather than with a YAML
library: the comment on a key's line is exactly what is wanted, and ruamel.yaml's round-trip comments hang on
the node *before* the comment, which turns "the comment of this line" into a walk over tokens.

A key set again in an ``experiment/`` or ``hparams_search/`` file (an override of a task's key) takes its meaning
from the task or top-level file that defines it, when its own line has no comment: one home per meaning.
``scripts/config_reference.py`` writes ``docs/reference/configuration.md``; ``tests/test_config_reference.py``
checks that the page is current and that no key lacks a meaning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# files that only override keys which another file defines (their keys may borrow that file's meaning)
OVERRIDE_GROUPS = ("experiment", "hparams_search")
_KEY = re.compile(r"^(?P<indent> *)(?P<key>[^\s#:'\"][^:#]*?|'[^']*'|\"[^\"]*\"):(?: +(?P<rest>.*)|$)")


@dataclass(frozen=True)
class Key:
    """One key of one config file: its dotted path, the default written there and its one-line meaning."""

    path: str
    default: str
    meaning: Optional[str]
    line: int


def _split_comment(text: str) -> Tuple[str, Optional[str], int]:
    """``value  # comment`` -> (value, comment, column of '#') for a '#' outside quotes and after a space."""
    quote: Optional[str] = None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] == " "):
            return text[:i].rstrip(), text[i + 1 :].strip(), i
    return text.rstrip(), None, -1


def read_keys(path: Path) -> List[Key]:
    """Every key of a config file in order, with nested keys as dotted paths (the defaults list is left out)."""
    keys: List[Key] = []
    stack: List[Tuple[int, str]] = []  # (indent, key) of the open mappings
    comment_column = -1  # where the last key's comment starts, for continuation lines
    in_defaults = False
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            comment_column = -1
            continue
        if stripped.startswith("#"):
            column = raw.index("#")
            if keys and column == comment_column and keys[-1].meaning is not None:
                last = keys[-1]
                keys[-1] = Key(last.path, last.default, f"{last.meaning} {stripped[1:].strip()}", last.line)
            continue
        if stripped.startswith("- "):  # an item of a block list: part of its key's value
            if keys and (not keys[-1].default or keys[-1].default.startswith("[")) and not in_defaults:
                last, item = keys[-1], _split_comment(stripped[2:])[0]
                items = last.default[1:-1] + ", " if last.default else ""
                keys[-1] = Key(last.path, f"[{items}{item}]", last.meaning, last.line)
                if stack and stack[-1][1] == last.path.rsplit(".", 1)[-1]:
                    stack.pop()
            continue
        match = _KEY.match(raw)
        if match is None:
            continue
        indent, key = len(match.group("indent")), match.group("key").strip().strip("'\"")
        if indent == 0:
            in_defaults = key == "defaults"
        if in_defaults:
            continue
        value, comment, column = _split_comment(match.group("rest") or "")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [key])
        comment_column = len(raw) - len(match.group("rest") or "") + column if comment is not None else -1
        keys.append(Key(dotted, value, comment or None, number))
        if not value:
            stack.append((indent, key))
    return keys


def config_files(root: Path = CONFIGS) -> List[Path]:
    """The top-level files first, then each group's files, in name order."""
    return sorted(root.glob("*.yaml")) + sorted(p for p in root.glob("*/*.yaml"))


def _group(path: Path, root: Path) -> str:
    relative = path.relative_to(root)
    return relative.parts[0] if len(relative.parts) > 1 else ""


def _package(path: Path, root: Path) -> str:
    """The prefix of a file's keys on the command line: its group, unless the file is ``@package _global_``."""
    group = _group(path, root)
    if not group or "# @package _global_" in path.read_text(encoding="utf-8").split("\n", 1)[0]:
        return ""
    return group + "."


def _base_task(path: Path) -> Optional[str]:
    """The task an experiment file builds on (``- override /task: ner`` in its defaults list), if any."""
    found = re.search(r"^\s*-\s*override\s+/task:\s*(\S+)", path.read_text(encoding="utf-8"), flags=re.M)
    return found.group(1) if found else None


def meanings(root: Path = CONFIGS) -> Dict[Path, List[Key]]:
    """Each file's keys under their command-line names, with their meanings.

    A key without a comment of its own takes the meaning of the same key in, first, the task its experiment file
    builds on; then ``train.yaml`` or a config group other than tasks (``backbone/``, ``optimizer/``, ...); then
    the other files of its own group, where they all agree on one meaning (the alternatives of one slot:
    ``backbone=lstm|gru``). A ``_target_`` is the class built; a sweep's ``hydra.sweeper.params.<key>`` searches
    ``<key>``."""
    files: Dict[Path, List[Key]] = {}
    for path in config_files(root):
        prefix = _package(path, root)
        files[path] = [Key(prefix + k.path, k.default, k.meaning, k.line) for k in read_keys(path)]
    own = {path: {k.path: k.meaning for k in keys if k.meaning} for path, keys in files.items()}
    defining: Dict[str, str] = {}
    per_group: Dict[str, Dict[str, set]] = {}
    for path, found in own.items():
        group = _group(path, root)
        if path.name == "train.yaml" or group not in ("", "task") + OVERRIDE_GROUPS:
            for key, meaning in found.items():
                defining.setdefault(key, meaning)
        for key, meaning in found.items():
            per_group.setdefault(group, {}).setdefault(key, set()).add(meaning)
    agreed = {g: {k: next(iter(m)) for k, m in keys.items() if len(m) == 1} for g, keys in per_group.items()}

    def meaning_of(key: str, path: Optional[Path], group: str, leaf: bool = True) -> Optional[str]:
        if path is not None and key in own[path]:
            return own[path][key]
        if not leaf:
            return None  # a group of keys is described by its own comment or by its keys
        task = _base_task(path) if path is not None and group == "experiment" else None
        if task is not None and key in own.get(root / "task" / f"{task}.yaml", {}):
            return own[root / "task" / f"{task}.yaml"][key]
        found = defining.get(key) or agreed.get(group, {}).get(key)
        if found is None and group in OVERRIDE_GROUPS:
            found = agreed.get("task", {}).get(key)
        if found is None and (key == "_target_" or key.endswith("._target_")):
            found = "the class Hydra builds from this group of keys"
        prefix = "hydra.sweeper.params."
        if found is None and key.startswith(prefix):
            searched = meaning_of(key[len(prefix) :], None, "hparams_search")
            found = f"searched: {searched}" if searched else None
        return found

    return {
        path: [
            Key(k.path, k.default, meaning_of(k.path, path, _group(path, root), bool(k.default)), k.line) for k in keys
        ]
        for path, keys in files.items()
    }


def missing(root: Path = CONFIGS) -> List[str]:
    """``file:line: key`` for every key without a meaning (the reference's test asks for none)."""
    return [
        f"{path.relative_to(root.parent)}:{key.line}: {key.path}"
        for path, keys in meanings(root).items()
        for key in keys
        if not key.meaning and key.default  # a group of keys is described by its keys
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _prose(text: str) -> str:
    """A comment as table text: ``<name>`` shown as written, not read as an HTML tag, ``[x][y]`` not as a link."""
    return _cell(text).replace("<", "&lt;").replace(">", "&gt;").replace("[", "\\[")


def render(root: Path = CONFIGS) -> str:
    """The Markdown page: one section per group, one table per file."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the YAML comments of `seqkit/configs/` by `scripts/config_reference.py`: do not edit",
        "it by hand. Every key is an override on the command line (`data.batch_size=32`); a group is chosen with",
        "`group=choice` (`backbone=gru`). A key of an `experiment` or `hparams_search` file sets a key that a task or",
        "`train.yaml` defines, and shares its meaning. `${...}` is an interpolation: the value of that other key.",
        "",
    ]
    current = None
    for path, keys in meanings(root).items():
        group = _group(path, root)
        if group != current:
            current = group
            title = f"`{group}=`" if group else "Top-level files"
            out += [f"## {title}", ""]
        name = path.stem if group else path.name
        out += [f"### {name}" if group else f"### `{name}`", ""]
        if not keys:
            out += ["Chooses other configs only (its defaults list).", ""]
            continue
        out += ["| key | default | meaning |", "|---|---|---|"]
        for key in keys:
            default = f"`{_cell(key.default)}`" if key.default else "(a group of keys)"
            out.append(f"| `{_cell(key.path)}` | {default} | {_prose(key.meaning or '')} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
