"""What the seqkit LightningDataModules share: path handling, batching, and checkpointed state."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
from torch import Tensor
from torch.utils.data import DataLoader

from seqkit.data.sampler import BucketBatchSampler
from seqkit.data.vocab import Vocabulary


class SeqkitDataModule(pl.LightningDataModule):
    """Base class: subclasses fill ``self.datasets[split]`` (lists of encoded examples) in ``setup`` and
    keep everything prediction needs (vocabularies, label maps, tokeniser) in ``state_dict``, which
    Lightning stores in every checkpoint.

    root: directory that relative ``*_path`` arguments are read from (``data.root=../shared/data/sst2``).
    bucketing: training batches group similar lengths (BucketBatchSampler); off = plain shuffled batches.
    """

    vocabularies: Tuple[str, ...] = ()  # names of the Vocabulary attributes a checkpoint keeps (see state_fields)

    def __init__(self, root: Optional[str] = None, batch_size: int = 32, eval_batch_size: Optional[int] = None,
                 bucketing: bool = True, num_workers: int = 0):
        super().__init__()
        self.root = root
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.bucketing, self.num_workers = bucketing, num_workers
        self.datasets: Dict[str, List[Any]] = {}
        self.vocab: Optional[Vocabulary] = None  # the word vocabulary; None until learnt or restored
        self.pretrained_matrix: Optional[Tensor] = None  # [V, D] when data.pretrained is set

    def setup(self, stage: Optional[str] = None) -> None:
        """Read the splits, learn the vocabularies from train unless a checkpoint restored them, encode."""
        if self.datasets:
            return
        splits = self._read_splits()
        if not splits:
            raise ValueError("no data: give data.train_path (your own files) or data.builtin (shipped data)")
        if self.vocab is None:
            if "train" not in splits:
                raise ValueError("no vocabulary yet: give data.train_path or load the data module from a checkpoint")
            self.build_vocabularies(splits)
        for name, (examples, source) in splits.items():
            if name == "train" and stage not in (None, "fit"):
                continue
            self.datasets[name] = self.encode(examples, source)

    def state_fields(self) -> Dict[str, Any]:
        """The named fields a checkpoint keeps and restores before ``setup``: name -> a class whose objects
        serialise with ``to_dict()`` to plain Python and come back with ``cls.from_dict(...)``. Vocabularies
        now; scalers and tokeniser models add their own entries."""
        return {name: Vocabulary for name in self.vocabularies}

    def state_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in self.state_fields() if getattr(self, name, None) is not None}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for name, cls in self.state_fields().items():
            if name in state:
                setattr(self, name, cls.from_dict(state[name]))

    def embedding_kwargs(self) -> Dict[str, Any]:
        """Model arguments for pretrained vectors: the initial matrix and its width."""
        if self.pretrained_matrix is None:
            return {}
        return {"pretrained_embeddings": self.pretrained_matrix, "embedding_dim": self.pretrained_matrix.size(1)}

    def resolve(self, path: Optional[str]) -> Optional[Path]:
        if path is None:
            return None
        p = Path(path).expanduser()
        return p if p.is_absolute() or self.root is None else Path(self.root).expanduser() / p

    # subclasses provide
    def _read_splits(self) -> Dict[str, Tuple[List[Any], str]]:
        """-> {split: (raw examples, source name for errors)} for the splits this configuration has."""
        raise NotImplementedError

    def build_vocabularies(self, splits: Dict[str, Tuple[List[Any], str]]) -> None:
        raise NotImplementedError

    def encode(self, examples: List[Any], source: str) -> List[Any]:
        """Raw examples -> id lists; a label the training data never had is a DataError at its line."""
        raise NotImplementedError

    def collate(self, examples: List[Any]):
        raise NotImplementedError

    def example_length(self, example: Any) -> int:
        raise NotImplementedError

    def loader(self, examples: Sequence[Any], train: bool) -> DataLoader:
        """Training: bucketed (or shuffled) batches; evaluation: length-sorted batches, order restored by Batch.index."""
        size = self.batch_size if train else self.eval_batch_size
        if train and not self.bucketing:
            return DataLoader(examples, batch_size=size, shuffle=True, collate_fn=self.collate, num_workers=self.num_workers)
        sampler = BucketBatchSampler([self.example_length(e) for e in examples], size, shuffle=train)
        return DataLoader(examples, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["train"], train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["val"], train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["test"], train=False)

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["predict"], train=False)


def log(message: str) -> None:
    """Data notices (IOB1 converted, vocabulary coverage): one line on stderr, so stdout stays machine-readable."""
    print(f"[seqkit] {message}", file=sys.stderr, flush=True)
