"""What the seqkit LightningDataModules share: path handling, batching, and checkpointed state."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from seqkit.data.notice import log  # noqa: F401 (the data modules import it from here)
from seqkit.data.pretrained import PretrainedVectors, vectors_source
from seqkit.data.sampler import BucketBatchSampler, LengthSortedSampler, ShuffleSampler
from seqkit.data.textfile import resolve_path
from seqkit.data.vocab import Vocabulary


class SeqkitDataModule(pl.LightningDataModule):
    """Base class: subclasses fill ``self.datasets[split]`` (lists of encoded examples) in ``setup`` and
    keep everything prediction needs (vocabularies, label maps, tokeniser) in ``state_dict``, which
    Lightning stores in every checkpoint.

    root: directory that relative ``*_path`` arguments are read from (``data.root=../shared/data/sst2``).
    Pretrained vectors (``use_pretrained``) make the word ids open-vocabulary (``encode_words``); the
    checkpoint records their name and checksum, not the vectors, and loading it loads them again.
    bucketing: training batches group similar lengths (BucketBatchSampler); off = plain shuffled batches.
    """

    vocabularies: Tuple[str, ...] = ()  # names of the Vocabulary attributes a checkpoint keeps (see state_fields)

    def __init__(
        self,
        root: Optional[str] = None,
        batch_size: int = 32,
        eval_batch_size: Optional[int] = None,
        bucketing: bool = True,
        num_workers: int = 0,
    ):
        super().__init__()
        self.root = root
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.bucketing, self.num_workers = bucketing, num_workers
        self.datasets: Dict[str, List[Any]] = {}
        self.vocab: Optional[Vocabulary] = None  # the word vocabulary; None until learnt or restored
        self.vectors: Optional[PretrainedVectors] = None  # when data.pretrained is set

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
        state = {
            name: getattr(self, name).to_dict() for name in self.state_fields() if getattr(self, name, None) is not None
        }
        return {**state, "pretrained": self.vectors.identity()} if self.vectors is not None else state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        for name, cls in self.state_fields().items():
            if name in state:
                setattr(self, name, cls.from_dict(state[name]))
        if (
            "pretrained" in state
        ):  # a file is read only where data.pretrained names it (seqkit.app.train.load_checkpoint)
            record = state["pretrained"]
            self.use_pretrained(vectors_source(record, self.hparams.get("pretrained"), "the checkpoint"), record)

    def use_pretrained(self, source: str, expected: Optional[Dict[str, Any]] = None) -> None:
        """Load the vectors ``source`` (once per data module), checked against a checkpoint's record ``expected``."""
        if self.vectors is None or self.vectors.source != str(source):
            self.vectors = PretrainedVectors.load(source, expected)
        if expected is not None:
            self.vectors.check(expected)
        else:
            log(self.vectors.report(self.vocab))

    def encode_words(self, words: Iterable[str]) -> List[int]:
        """Word ids: the training vocabulary's, and with pretrained vectors an id for every word they cover."""
        return self.vocab.encode(words) if self.vectors is None else self.vectors.encode(self.vocab, words)

    def embedding_kwargs(self) -> Dict[str, Any]:
        """Model arguments for pretrained vectors (not hyper-parameters, except their width and number)."""
        if self.vectors is None:
            return {}
        return {
            "pretrained_vectors": self.vectors.table,
            "pretrained_rows": self.vectors.rows(self.vocab),
            "pretrained_words": len(self.vectors),
            "embedding_dim": self.vectors.dim,
        }

    def resolve(self, path: Optional[str]) -> Optional[Path]:
        return None if path is None else resolve_path(path, self.root)

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

    def replicas(self) -> Dict[str, int]:
        """``{"num_replicas", "rank"}`` of this training process (DDP: from the attached Trainer; one otherwise)."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return {"num_replicas": 1, "rank": 0}
        return {"num_replicas": trainer.world_size, "rank": trainer.global_rank}

    def loader(self, examples: Sequence[Any], train: bool) -> DataLoader:
        """Training: bucketed (or shuffled) batches, in an order fixed by (seed, epoch) (see seqkit.data.sampler),
        each DDP rank taking its own share; evaluation: length-sorted batches, order restored by Batch.index
        (every rank evaluates all of it, so metrics are exactly those of one process)."""
        size = self.batch_size if train else self.eval_batch_size
        shard = self.replicas() if train else {}
        if train and not self.bucketing:
            return DataLoader(
                examples,
                batch_size=size,
                sampler=ShuffleSampler(len(examples), **shard),
                collate_fn=self.collate,
                num_workers=self.num_workers,
            )
        lengths = [self.example_length(e) for e in examples]
        if not train:  # a sampler, not a batch sampler: Trainer.predict keeps it (see LengthSortedSampler)
            return DataLoader(
                examples,
                batch_size=size,
                sampler=LengthSortedSampler(lengths),
                collate_fn=self.collate,
                num_workers=self.num_workers,
            )
        sampler = BucketBatchSampler(lengths, size, shuffle=True, **shard)
        return DataLoader(examples, batch_sampler=sampler, collate_fn=self.collate, num_workers=self.num_workers)

    def train_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["train"], train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["val"], train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["test"], train=False)

    def predict_dataloader(self) -> DataLoader:
        return self.loader(self.datasets["predict"], train=False)
