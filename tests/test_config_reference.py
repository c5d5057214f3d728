"""The configuration reference (docs/reference/configuration.md) is generated from seqkit/configs/ and current,
and every key there has a one-line meaning."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from seqkit.app.config_reference import missing, read_keys, render

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "reference" / "configuration.md"


def _configs(tmp_path: Path, files: dict) -> Path:
    root = tmp_path / "configs"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_every_shipped_key_has_a_meaning():
    assert missing() == [], "add a comment on the key's line:\n" + "\n".join(missing())


def test_the_reference_page_is_current():
    assert PAGE.read_text(encoding="utf-8") == render(), "run: python scripts/config_reference.py"


def test_the_page_shows_keys_by_their_override_names_with_default_and_meaning():
    page = PAGE.read_text(encoding="utf-8")
    assert "| `backbone.hidden_size` | `128` | hidden units a direction |" in page
    assert "| `model.pooling` | `max` | last \\| mean \\| max \\| attention |" in page
    assert "| `threads` | `null` | torch intra-op threads; null = torch's default |" in page


def test_keys_nest_comments_continue_and_defaults_lists_are_left_out(tmp_path):
    root = _configs(
        tmp_path,
        {
            "train.yaml": (
                "defaults:\n  - backbone: lstm   # not a key\n"
                "seed: 42   # seeds everything\n"
                "data:\n"
                '  path: "a # b"      # a file; the hash in quotes is text\n'
                "  mode: x            # one of x\n"
                "                     # | y (continued)\n"
                "  sizes:\n    - 1\n    - 2\n"
            )
        },
    )
    keys = {k.path: (k.default, k.meaning) for k in read_keys(root / "train.yaml")}
    assert keys == {
        "seed": ("42", "seeds everything"),
        "data": ("", None),
        "data.path": ('"a # b"', "a file; the hash in quotes is text"),
        "data.mode": ("x", "one of x | y (continued)"),
        "data.sizes": ("[1, 2]", None),
    }
    # a group of keys needs no comment of its own, a key with a value (a block list too) does
    assert missing(root) == ["configs/train.yaml:8: data.sizes"]


def test_a_key_without_a_comment_is_reported_with_its_file_and_line(tmp_path):
    root = _configs(tmp_path, {"train.yaml": "seed: 42   # seeds\nthreads: null\n"})
    assert missing(root) == ["configs/train.yaml:2: threads"]


def test_meanings_come_from_one_home(tmp_path):
    root = _configs(
        tmp_path,
        {
            "train.yaml": "seed: 1  # the seed\n",
            "backbone/lstm.yaml": "hidden_size: 8   # hidden units\n",
            "backbone/gru.yaml": "hidden_size: 8\n",
            "task/ner.yaml": "# @package _global_\nmodel:\n  head: crf   # crf | softmax\nbackbone:\n  hidden_size: 4\n",
            "task/forecast.yaml": "# @package _global_\nmodel:\n  head: direct   # direct | recursive\n",
            "task/pos.yaml": "# @package _global_\nmodel:\n  head: softmax\n",
            "experiment/conll.yaml": (
                "# @package _global_\ndefaults:\n  - override /task: ner\nmodel:\n  head: softmax\nseed: 3\n"
            ),
        },
    )
    # the group's other choice, the group a task sets, the base task of an experiment, the top-level file
    from seqkit.app.config_reference import meanings

    found = {(p.parent.name + "/" + p.stem, k.path): k.meaning for p, keys in meanings(root).items() for k in keys}
    assert found[("backbone/gru", "backbone.hidden_size")] == "hidden units"
    assert found[("task/ner", "backbone.hidden_size")] == "hidden units"
    assert found[("experiment/conll", "model.head")] == "crf | softmax"
    assert found[("experiment/conll", "seed")] == "the seed"
    # two tasks give model.head two meanings: a third task without a comment borrows neither
    assert missing(root) == ["configs/task/pos.yaml:3: model.head"]


def test_the_script_checks_the_page(tmp_path):
    ran = subprocess.run(
        [sys.executable, "scripts/config_reference.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
