"""Lines ``<tokens>\\t<count>``: read, vocabulary, encode, batch; prediction reads ``<tokens>`` lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from seqkit.data.batch import Batch, encode_records, lengths_of, pad
from seqkit.data.codec import SHARED_DEFAULTS, Codec
from seqkit.data.errors import DataError
from seqkit.data.textfile import read_lines
from seqkit.data.vocab import Vocabulary


@dataclass
class Line:
    tokens: List[str]
    count: Optional[float]
    line: int


@dataclass
class Example:
    index: int
    ids: List[int]
    count: float


class CountCodec(Codec):
    """Settings: ``train_path`` / ``val_path`` / ``test_path`` (``<tokens>\\t<count>`` lines), ``root``, and
    ``batch_size`` (16) / ``eval_batch_size``."""

    defaults = {"train_path": None, "val_path": None, "test_path": None, **SHARED_DEFAULTS, "batch_size": 16}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.vocab: Optional[Vocabulary] = None

    def state_dict(self) -> Dict[str, Any]:
        return {} if self.vocab is None else {"vocab": self.vocab.to_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if "vocab" in state:
            self.vocab = Vocabulary.from_dict(state["vocab"])

    @property
    def built(self) -> bool:
        return self.vocab is not None

    def read(self, path: str) -> List[Line]:
        lines = []
        for number, text in read_lines(self.resolve(path)):
            if not text.strip():
                continue
            body, tab, count = text.rpartition("\t")
            if not tab or not count.strip().isdigit():
                raise DataError(path, number, "expected '<tokens>\\t<count>'")
            lines.append(Line(body.split(), float(count), number))
        return lines

    def read_splits(self) -> Dict[str, Tuple[List[Line], str]]:
        return {
            name: (self.read(self.hparams[f"{name}_path"]), str(self.resolve(self.hparams[f"{name}_path"])))
            for name in ("train", "val", "test")
            if self.hparams.get(f"{name}_path")
        }

    def build(self, train: List[Line]) -> None:
        self.vocab = Vocabulary.build(line.tokens for line in train)

    def encode(self, lines: List[Line], source: str) -> List[Example]:
        return [Example(i, self.vocab.encode(line.tokens), line.count or 0.0) for i, line in enumerate(lines)]

    def example_length(self, example: Example) -> int:
        return len(example.ids)

    def collate(self, examples: List[Example]) -> Batch:
        ids = [e.ids for e in examples]
        return Batch(
            tokens=pad(ids),
            lengths=lengths_of(ids),
            index=torch.tensor([e.index for e in examples]),
            labels=torch.tensor([e.count for e in examples]),
        )

    def network_kwargs(self) -> Dict[str, Any]:
        return {"vocab_size": len(self.vocab)}

    def set_predict_input(self, lines: List[Tuple[int, str]], source: str, **options: Any) -> List[Line]:
        records = [Line(text.split("\t")[0].split(), None, number) for number, text in lines]
        self.datasets["predict"] = encode_records(self.encode, records, lambda r: bool(r.tokens), source)
        return records

    def format_predictions(self, records: List[Line], outputs: List[Optional[Dict[str, Any]]]) -> List[Dict[str, Any]]:
        return [
            {"tokens": r.tokens, "count": None if out is None else round(float(out["count"]), 4)}
            for r, out in zip(records, outputs)
        ]
