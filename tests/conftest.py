"""Shared test set-up: one torch thread (the test machines are small and shared) and generated data sets."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
import torch

torch.set_num_threads(1)


def pytest_collection_modifyitems(items) -> None:
    """The README test first: it is the longest file (every README command, two at a time), so under
    ``-n auto --dist loadfile`` one worker starts it at once while the others share the rest."""
    items.sort(key=lambda item: item.path.name != "test_readme.py")


FIRST_MARKERS = ("zig", "zag")
LAST_MARKERS = ("tic", "tac")
FILLERS = tuple(f"w{i}" for i in range(40))


def marker_examples(n: int, seed: int, min_len: int = 8, max_len: int = 30) -> List[Tuple[str, str]]:
    """A long-range task: ``n`` texts of random filler words whose FIRST token is zig|zag and whose LAST
    token is tic|tac; the label names both (``zig-tac``, ...): 4 classes, balanced by construction.

    Neither end alone determines the label, so a model must read both the first and the last *real*
    token of every text, up to 29 tokens apart: one that reads padding instead of a short text's last
    token cannot tell tic from tac and stays near 50%.
    """
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first, last = FIRST_MARKERS[i % 2], LAST_MARKERS[(i // 2) % 2]
        length = rng.randint(min_len, max_len)
        words = [first] + [rng.choice(FILLERS) for _ in range(length - 2)] + [last]
        rows.append((" ".join(words), f"{first}-{last}"))
    rng.shuffle(rows)
    return rows


def write_tab_file(path: Path, rows: List[Tuple[str, str]]) -> Path:
    path.write_text("".join(f"{text}\t{label}\n" for text, label in rows), encoding="utf-8")
    return path


@pytest.fixture
def marker_files(tmp_path):
    """Factory: ``marker_files(train=..., val=..., test=..., seed=...)`` -> {"train": path, "val": path, ...}
    of text_tab_label files of the marker task (see ``marker_examples``) under ``tmp_path / "data"``."""

    def make(train: int = 600, val: int = 200, test: int = 0, seed: int = 0, **lengths) -> Dict[str, Path]:
        folder = tmp_path / "data"
        folder.mkdir(exist_ok=True)
        paths = {}
        for k, (name, n) in enumerate((("train", train), ("val", val), ("test", test))):
            if n:
                paths[name] = write_tab_file(folder / f"{name}.tsv", marker_examples(n, seed * 10 + k, **lengths))
        return paths

    return make
