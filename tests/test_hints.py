"""Every hint is a valid override: each ``key=value`` a message of seqkit suggests (``set data.scheme=none``,
``use backbone.cell=lstm``, ``give data.test_path=<file>``) is collected from the source's strings, parsed by
Hydra's own override parser, and must name a key of a composed seqkit config (a config group's option for
``group=choice``). A message that says ``scheme='none'`` (a Python spelling no command line takes) fails here."""

from __future__ import annotations

import ast
import fnmatch
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterator, List, Set, Tuple

import pytest
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from seqkit import tasks
from seqkit.app.config import CONFIG_MODULE, CONFIGS

SOURCE = Path(__file__).resolve().parents[1] / "seqkit"
SKIPPED_FOLDERS = ("benchmark",)  # a benchmark's recipes are override lists that its own runs compose
HOLE = "\x00"  # where an f-string's {value} was
# key=value in a message: not after a word, a dot, a quote or a bracket (``Tokenizer(mode=``), not ``==``
HINT = re.compile(
    r"(?<![\w\x00.'\"(\[{/-])([A-Za-z_][\w\x00]*(?:\.[\w\x00]+)*)=(?!=)(\[[^\]]*\]?|\"[^\"]*\"|[^\s,;)`]*)"
)
DELETE = re.compile(r"(?<![\w.])(~[A-Za-z_]\w*(?:\.\w+)+)")  # ~key: Hydra's delete
# a setting named without a value after a verb that asks for it: "set data.time_column", "lower data.bptt"
NAMED = re.compile(r"\b(?:set|give|lower|raise|use)\s+([a-z_]+(?:\.[a-z_]+)+)\b(?![=.(])")
# Python arguments in messages of plain-Python APIs (a constructor's repr, a keyword of a torch-level class) and
# the usage text's grammar: not suggestions of a command-line setting.
NOT_HINTS = {
    ("data/tokenizer.py", "lowercase"),
    ("data/vocab.py", "unk"),
    ("nn/crf.py", "constrained"),
    ("training/optim.py", "betas"),
    ("training/optim.py", "eps"),
    ("training/optim.py", "lr"),
    ("checkpoint.py", "weights_only"),
    ("nn/crf.py", "num_tags"),
    ("app/usage.py", "key"),
    ("app/usage.py", "group"),
    ("app/usage.py", "task=my_task"),  # the help's example of a user's own task file
    ("app/config_reference.py", "group"),  # the reference page's pattern group=choice, then its example backbone=gru
    ("app/resume.py", "trainer.max_steps"),  # echoes the +trainer.max_steps a user gave
    # ++model.char.<cnn|lstm>.<option>=: model.char is free-form ({}), so the sections cnn+lstm reads are added
    ("nn/char_encoder.py", f"model.char.{HOLE}.{HOLE}"),
}


def _messages(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, text) of each string of a module that is not a docstring; an f-string's values become HOLE."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    inside_fstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside_fstrings.update(id(v) for v in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
            yield node.lineno, text
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings and id(node) not in inside_fstrings:
                yield node.lineno, node.value


def collect_hints() -> List[Tuple[str, str]]:
    """(where, override text) of every key=value in seqkit's messages (placeholders as written)."""
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        rel = path.relative_to(SOURCE).as_posix()
        if rel.split("/")[0] in SKIPPED_FOLDERS:
            continue
        for line, text in _messages(path):
            for key, value in HINT.findall(text):
                hint = f"{key}={value}"
                if (rel, key) not in NOT_HINTS and (rel, hint) not in NOT_HINTS:
                    found.append((f"{rel}:{line}", hint))
            found.extend((f"{rel}:{line}", key) for key in DELETE.findall(text))
            found.extend((f"{rel}:{line}", key) for key in NAMED.findall(text))
    return found


def parseable(override: str) -> str:
    """Placeholders (``<file>``, ``...``, an f-string's value, an empty value) -> a sample value."""
    text = re.sub(r"<[^<>]*>?|\{[a-z_]+\}", "x", override).replace("...", "x").replace(HOLE, "x")  # {name}: a template
    return text + "x" if text.endswith("=") else text


@lru_cache(maxsize=None)
def known_keys() -> Set[str]:
    """Every dotted key of the composed configs of each command (train composed with every task, Hydra's own
    keys included), and every data setting a shape's codec takes (``Codec.defaults``)."""
    keys: Set[str] = set()

    def walk(node, prefix=""):
        for key, value in node.items():
            keys.add(prefix + str(key))
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")

    with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
        configs = [("train", [f"task={p.stem}"]) for p in sorted((CONFIGS / "task").glob("*.yaml"))]
        configs += [(name, []) for name in ("predict", "evaluate", "generate", "export", "serve")]
        for name, overrides in configs:
            cfg = compose(config_name=name, overrides=overrides, return_hydra_config=name == "train")
            walk(OmegaConf.to_container(cfg, resolve=False))
    for shape in tasks.registry.shapes():
        keys.update(f"data.{key}" for key in tasks.load(shape.codec).defaults)
    return keys


def is_config_group(name: str) -> bool:
    return (CONFIGS / name).is_dir()


def check(override: str) -> None:
    """Hydra parses it, and it names a config group's option or an existing key (a delete: one a user may add)."""
    if "=" not in override and not override.startswith("~"):  # a setting named without a value
        assert any(fnmatch.fnmatchcase(k, override.replace(HOLE, "*")) for k in known_keys()), f"no setting {override}"
        return
    parsed = OverridesParser.create().parse_overrides([parseable(override)])[0]
    key = parsed.key_or_group
    if parsed.is_delete():  # ~key: a key a user may have added (+key=...) under an existing section
        assert key.rsplit(".", 1)[0] in known_keys() or is_config_group(key.split(".")[0]), f"no section of {key}"
        return
    if is_config_group(key):
        value = override.split("=", 1)[1]
        if re.fullmatch(r"\w+", value):
            assert (CONFIGS / key / f"{value}.yaml").is_file(), f"{key} has no option {value}"
        return
    pattern = override.split("=", 1)[0].replace(HOLE, "*")  # an f-string's value in the key: any
    assert any(fnmatch.fnmatchcase(k, pattern) for k in known_keys()), f"no setting {key}"


HINTS = collect_hints()


def test_hints_are_found_in_the_messages():
    texts = {text for _, text in HINTS}
    assert {"data.scheme=none", "backbone.cell=lstm", "data.test_path=<file>", "~optimizer.amsgrad"} <= texts
    assert "data.time_column" in texts and len(HINTS) > 40


@pytest.mark.parametrize("where, override", HINTS, ids=[f"{w} {o}".replace(HOLE, "{}") for w, o in HINTS])
def test_every_hint_is_a_valid_override_of_an_existing_setting(where, override):
    check(override)


@pytest.mark.parametrize(
    "message",
    [
        "tag 'NN' is not O or B-/I-/E-/S- followed by a type (use scheme='none' for POS or chunk tags)",
        "nonlinearity applies to cell='rnn' only",
        "set model.embeding_dim=8",
        "use optimizer=adamx",
    ],
)
def test_a_hint_that_is_no_valid_override_is_caught(message, tmp_path):
    """The checks have teeth: each of these messages (the old spellings among them) fails."""
    module = tmp_path / "message.py"
    module.write_text(f"raise ValueError({message!r})\n", encoding="utf-8")
    (_, text), *_ = _messages(module)
    hints = [f"{key}={value}" for key, value in HINT.findall(text)] or NAMED.findall(text)
    with pytest.raises(Exception):
        for hint in hints:
            check(hint)
