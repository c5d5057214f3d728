"""Long-range benchmark tasks generated from a seed (no files): the adding problem and copy memory.

Both measure how far back a recurrent network can carry information (and a gradient). Every split is
drawn from its own generator (``seed`` for train, ``seed + 1`` for validation, ``seed + 2`` for test), so
the same settings always give the same data and validation never overlaps training by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from seqkit.data.batch import IGNORE_INDEX

SPLITS = ("train", "val", "test")


@dataclass
class SyntheticExample:
    index: int
    inputs: Tensor  # [T] long token ids, or [T, F] float features
    target: Tensor  # [] (one target a sequence) or [T] (one label a position)


def adding_problem(n: int, length: int, generator: torch.Generator) -> tuple:
    """The adding problem (Hochreiter & Schmidhuber 1997; as in Le et al. 2015 and Arjovsky et al. 2016).

    Every step carries (value ~ U(0, 1), marker in {0, 1}); exactly two steps are marked, one in each half
    of the sequence, and the target is the sum of the two marked values. Always predicting the mean (1)
    scores MSE Var(U1 + U2) = 2/12 = 1/6. -> inputs [n, length, 2] float, targets [n] float.
    """
    if length < 2:
        raise ValueError(f"data.length must be >= 2 for the adding problem, got {length}")
    values = torch.rand(n, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=generator)
    second = torch.randint(half, length, (n,), generator=generator)
    markers = torch.zeros(n, length)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), targets


# copy memory token ids: 0 is padding (as in every seqkit vocabulary), then blank, delimiter, the symbols
BLANK, DELIMITER, FIRST_SYMBOL = 1, 2, 3


def copy_memory(n: int, length: int, symbols: int, alphabet: int, generator: torch.Generator) -> tuple:
    """Copy memory (Hochreiter & Schmidhuber 1997; as in Arjovsky et al. 2016).

    Input: ``symbols`` random symbols out of ``alphabet``, ``length - 1`` blanks, a delimiter, then
    ``symbols`` blanks (``length + 2 * symbols`` steps). Output: the symbols, in order, on the last
    ``symbols`` steps; every earlier step is IGNORE_INDEX, so loss and accuracy count the answer only
    (chance accuracy 1 / alphabet). -> tokens [n, L] long, labels [n, L] long (label i = symbol i).
    """
    if length < 1 or symbols < 1 or alphabet < 2:
        raise ValueError(
            f"copy memory needs length >= 1, symbols >= 1, alphabet >= 2; got {length}, {symbols}, {alphabet}"
        )
    data = torch.randint(0, alphabet, (n, symbols), generator=generator)
    total = length + 2 * symbols
    tokens = torch.full((n, total), BLANK, dtype=torch.long)
    tokens[:, :symbols] = data + FIRST_SYMBOL
    tokens[:, symbols + length - 1] = DELIMITER
    labels = torch.full((n, total), IGNORE_INDEX, dtype=torch.long)
    labels[:, -symbols:] = data
    return tokens, labels
