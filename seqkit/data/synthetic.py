"""Long-range benchmark tasks generated from a seed (no files): the adding problem and copy memory.

Both measure how far back a recurrent network can carry information (and a gradient). Every split is
drawn from its own generator (``seed`` for train, ``seed + 1`` for validation, ``seed + 2`` for test), so
the same settings always give the same data and validation never overlaps training by construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch
from torch import Tensor

from seqkit.data.batch import IGNORE_INDEX, Batch
from seqkit.data.datamodule import SeqkitDataModule

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
        raise ValueError(f"copy memory needs length >= 1, symbols >= 1, alphabet >= 2; got {length}, {symbols}, {alphabet}")
    data = torch.randint(0, alphabet, (n, symbols), generator=generator)
    total = length + 2 * symbols
    tokens = torch.full((n, total), BLANK, dtype=torch.long)
    tokens[:, :symbols] = data + FIRST_SYMBOL
    tokens[:, symbols + length - 1] = DELIMITER
    labels = torch.full((n, total), IGNORE_INDEX, dtype=torch.long)
    labels[:, -symbols:] = data
    return tokens, labels


class SyntheticDataModule(SeqkitDataModule):
    """Base of the generated tasks: ``sizes`` examples a split, generated in ``setup``; nothing to learn
    from the data (no vocabulary), so the checkpointed state is empty."""

    def __init__(self, train_size: int = 10000, val_size: int = 1000, test_size: int = 0, seed: int = 0,
                 **loader_kwargs: Any):
        super().__init__(**loader_kwargs)
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.seed = seed

    def _read_splits(self) -> Dict[str, tuple]:
        splits = {}
        for k, name in enumerate(SPLITS):
            if self.sizes[name] > 0:
                inputs, targets = self.generate(self.sizes[name], torch.Generator().manual_seed(self.seed + k))
                examples = [SyntheticExample(i, x, y) for i, (x, y) in enumerate(zip(inputs, targets))]
                splits[name] = (examples, f"<{type(self).__name__} {name}>")
        return splits

    def setup(self, stage: Optional[str] = None) -> None:
        if not self.datasets:
            self.datasets = {name: examples for name, (examples, _) in self._read_splits().items()}

    def generate(self, n: int, generator: torch.Generator) -> tuple:
        raise NotImplementedError

    def example_length(self, example: SyntheticExample) -> int:
        return example.inputs.size(0)

    def state_dict(self) -> Dict[str, Any]:
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class AddingDataModule(SyntheticDataModule):
    """``task=adding``: many-to-one regression on real-valued inputs [B, T, 2] (``Batch.features``).
    The model gets ``input_size=2`` and ``target_mean``, the mean of the training targets (its
    predict-the-mean baseline, fitted on training data only)."""

    def __init__(self, length: int = 100, **kwargs: Any):
        super().__init__(**kwargs)
        self.save_hyperparameters()  # the checkpoint keeps the task's settings: evaluate.py regenerates the same data
        self.length = length

    def generate(self, n: int, generator: torch.Generator) -> tuple:
        return adding_problem(n, self.length, generator)

    def collate(self, examples: List[SyntheticExample]) -> Batch:
        features = torch.stack([e.inputs for e in examples])
        return Batch(tokens=None, features=features, lengths=torch.full((len(examples),), features.size(1)),
                     index=torch.tensor([e.index for e in examples]), labels=torch.stack([e.target for e in examples]))

    def model_kwargs(self) -> Dict[str, Any]:
        mean = torch.stack([e.target for e in self.datasets["train"]]).mean()
        return {"input_size": 2, "target_mean": float(mean)}


class CopyMemoryDataModule(SyntheticDataModule):
    """``task=copy_memory``: aligned many-to-many over ``alphabet + 3`` token ids; the tagger's tags are the
    symbols ``"0" .. str(alphabet - 1)``, scored on the answer steps only."""

    def __init__(self, length: int = 50, symbols: int = 10, alphabet: int = 8, **kwargs: Any):
        super().__init__(**kwargs)
        self.save_hyperparameters()  # the checkpoint keeps the task's settings: evaluate.py regenerates the same data
        self.length, self.symbols, self.alphabet = length, symbols, alphabet

    def generate(self, n: int, generator: torch.Generator) -> tuple:
        return copy_memory(n, self.length, self.symbols, self.alphabet, generator)

    def collate(self, examples: List[SyntheticExample]) -> Batch:
        tokens = torch.stack([e.inputs for e in examples])
        return Batch(tokens=tokens, lengths=torch.full((len(examples),), tokens.size(1)),
                     index=torch.tensor([e.index for e in examples]), labels=torch.stack([e.target for e in examples]))

    def model_kwargs(self) -> Dict[str, Any]:
        return {"vocab_size": self.alphabet + FIRST_SYMBOL, "tags": [str(i) for i in range(self.alphabet)],
                "scheme": "none"}
