"""Long-range benchmark tasks generated from a seed (no files): the adding problem and copy memory.

Both measure how far back a recurrent network can carry information (and a gradient). Every split is
drawn from its own generator (``seed`` for train, ``seed + 1`` for validation, ``seed + 2`` for test), so
the same settings always give the same data and validation never overlaps training by construction.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch

from seqkit.data.batch import Batch
from seqkit.data.datamodule import SeqkitDataModule
from seqkit.data.generated import BLANK, DELIMITER, FIRST_SYMBOL, SPLITS, SyntheticExample, adding_problem, copy_memory  # noqa: F401 (the generators' home is seqkit.data.generated)


class SyntheticDataModule(SeqkitDataModule):
    """Base of the generated tasks: ``sizes`` examples a split, generated in ``setup``; nothing to learn
    from the data (no vocabulary), so the checkpointed state is empty."""

    def __init__(
        self, train_size: int = 10000, val_size: int = 1000, test_size: int = 0, seed: int = 0, **loader_kwargs: Any
    ):
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
        return Batch(
            tokens=None,
            features=features,
            lengths=torch.full((len(examples),), features.size(1)),
            index=torch.tensor([e.index for e in examples]),
            labels=torch.stack([e.target for e in examples]),
        )

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
        return Batch(
            tokens=tokens,
            lengths=torch.full((len(examples),), tokens.size(1)),
            index=torch.tensor([e.index for e in examples]),
            labels=torch.stack([e.target for e in examples]),
        )

    def model_kwargs(self) -> Dict[str, Any]:
        return {
            "vocab_size": self.alphabet + FIRST_SYMBOL,
            "tags": [str(i) for i in range(self.alphabet)],
            "scheme": "none",
        }
