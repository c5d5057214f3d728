"""LightningDataModule for many-to-one tasks: one label a text (sentiment, topic, intent)."""
from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from seqkit.data.batch import Batch, lengths_of, pad, pad_chars
from seqkit.data.builtin import builtin_files
from seqkit.data.datamodule import SeqkitDataModule, log
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import LabelledText, read_labelled_text
from seqkit.data.pretrained import extend_with_pretrained
from seqkit.data.tokenizer import Tokenizer
from seqkit.data.vocab import Vocabulary


@dataclass
class Example:
    index: int
    ids: List[int]
    label: int  # -1 when unlabelled
    chars: Optional[List[List[int]]] = None  # character ids of each token, with char_features


def stratified_split(examples: Sequence[Any], labels: Sequence[str], fractions: Sequence[float], seed: int) -> List[List[Any]]:
    """Split keeping each label's share in every part; the same seed always gives the same parts."""
    by_label: Dict[str, List[Any]] = defaultdict(list)
    for ex, label in zip(examples, labels):
        by_label[label].append(ex)
    rng = random.Random(seed)
    parts: List[List[Any]] = [[] for _ in fractions]
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        bounds, total = [0], 0.0
        for f in fractions:
            total += f
            bounds.append(round(total * len(group)))
        for k in range(len(fractions)):
            parts[k].extend(group[bounds[k]: bounds[k + 1]])
    return parts


class TextClassificationDataModule(SeqkitDataModule):
    """Texts with one label each.

    Either ``builtin="sentiment_labelled"`` (shipped data, split ``split`` = train/val/test fractions with
    ``split_seed``, stratified by label), or your own files: ``train_path`` (required), ``val_path`` (if
    missing, a stratified ``split[1]`` share of train is held out), ``test_path`` (optional), all in ``format``.
    The vocabulary (``min_freq``, ``max_vocab_size``) and label set come from the training split only.
    pretrained: "glove-6b-50d" or a GloVe/word2vec text file initialises the word embedding (validation
    and test words the vectors cover join the vocabulary; see seqkit.data.pretrained).
    char_features: batches also carry the characters of every token (for ``model.char_encoder=cnn|lstm``),
    from a character vocabulary of the training text.
    """

    def __init__(
        self,
        train_path: Optional[str] = None,
        val_path: Optional[str] = None,
        test_path: Optional[str] = None,
        format: str = "text_tab_label",
        builtin: Optional[str] = None,
        split: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 13,
        tokenizer: Optional[Dict[str, Any]] = None,
        min_freq: int = 1,
        max_vocab_size: Optional[int] = None,
        pretrained: Optional[str] = None,
        char_features: bool = False,
        **loader_kwargs: Any,
    ):
        super().__init__(**loader_kwargs)
        self.save_hyperparameters()
        self.tokenizer = Tokenizer(**(tokenizer or {}))
        self.labels: Optional[Vocabulary] = None
        self.chars: Optional[Vocabulary] = None
        self.vocabularies = ("vocab", "labels", "chars") if char_features else ("vocab", "labels")

    # ---- reading -------------------------------------------------------------------------------
    def _read_splits(self) -> Dict[str, tuple]:
        """-> {split: (examples, source name for errors)} for the splits this configuration has."""
        hp = self.hparams
        if hp.builtin is not None and hp.train_path is None:
            examples: List[LabelledText] = []
            for path in builtin_files(hp.builtin, "all"):
                examples.extend(read_labelled_text(path, "text_tab_label"))
            train, val, test = stratified_split(examples, [e.label for e in examples], hp.split, hp.split_seed)
            return {"train": (train, hp.builtin), "val": (val, hp.builtin), "test": (test, hp.builtin)}
        splits = {}
        if hp.train_path is not None:
            train = read_labelled_text(self.resolve(hp.train_path), hp.format)
            if hp.val_path is None:
                held = hp.split[1] / (hp.split[0] + hp.split[1])
                train, val = stratified_split(train, [e.label for e in train], (1 - held, held), hp.split_seed)
                splits["val"] = (val, str(self.resolve(hp.train_path)))
            splits["train"] = (train, str(self.resolve(hp.train_path)))
        for name, path in (("val", hp.val_path), ("test", hp.test_path)):
            if path is not None:
                splits[name] = (read_labelled_text(self.resolve(path), hp.format), str(self.resolve(path)))
        return splits

    def build_vocabularies(self, splits: Dict[str, tuple]) -> None:
        train = splits["train"][0]
        self.vocab = Vocabulary.build((self.tokenizer(e.text) for e in train),
                                      min_freq=self.hparams.min_freq, max_size=self.hparams.max_vocab_size)
        self.labels = Vocabulary(sorted({e.label for e in train}), unk=False, pad=False)
        if self.hparams.char_features:
            self.chars = Vocabulary.build((c for t in self.tokenizer(e.text) for c in t) for e in train)
        if self.hparams.pretrained:
            extra = (t for name in ("val", "test") if name in splits for e in splits[name][0] for t in self.tokenizer(e.text))
            self.vocab, self.pretrained_matrix, report = extend_with_pretrained(self.vocab, self.hparams.pretrained, extra)
            log(report)
        log(f"{len(train)} training texts, vocabulary {len(self.vocab)}, labels {self.labels.itos}")

    def encode(self, examples: Iterable[LabelledText], source: str) -> List[Example]:
        out = []
        for i, ex in enumerate(examples):
            if ex.label is not None and ex.label not in self.labels:
                raise DataError(source, ex.line, f"label {ex.label!r} is not in the training labels {self.labels.itos}")
            tokens = self.tokenizer(ex.text)  # never empty: readers reject blank texts
            label = -1 if ex.label is None else self.labels.index(ex.label)
            chars = [self.chars.encode(t) for t in tokens] if self.chars is not None else None
            out.append(Example(i, self.vocab.encode(tokens), label, chars))
        return out

    # ---- batching ------------------------------------------------------------------------------
    def example_length(self, example: Example) -> int:
        return len(example.ids)

    def collate(self, examples: List[Example]) -> Batch:
        ids = [e.ids for e in examples]
        labels = torch.tensor([e.label for e in examples], dtype=torch.long)
        chars, char_lengths = pad_chars([e.chars for e in examples]) if self.chars is not None else (None, None)
        return Batch(tokens=pad(ids), lengths=lengths_of(ids), index=torch.tensor([e.index for e in examples]),
                     labels=None if (labels < 0).any() else labels, chars=chars, char_lengths=char_lengths)

    # ---- what the model needs, what the checkpoint keeps ---------------------------------------
    def model_kwargs(self) -> Dict[str, Any]:
        kwargs = {"vocab_size": len(self.vocab), "num_classes": len(self.labels), **self.embedding_kwargs()}
        return {**kwargs, "num_chars": len(self.chars)} if self.chars is not None else kwargs

    def state_fields(self) -> Dict[str, Any]:
        return {**super().state_fields(), "tokenizer": Tokenizer}

    # ---- prediction ----------------------------------------------------------------------------
    def set_predict_input(self, lines: List[Tuple[int, str]], source: str) -> List[LabelledText]:
        """Numbered raw lines, one text each (blank lines passed over) -> the ``predict`` data set."""
        texts = [LabelledText(line.strip(), None, number) for number, line in lines if line.strip()]
        if not texts:
            raise DataError(source, None, "no text to predict")
        self.datasets["predict"] = self.encode(texts, source)
        return texts

    def format_predictions(self, texts: List[LabelledText], outputs: List[Dict[str, torch.Tensor]]) -> List[Dict[str, Any]]:
        """Per-text model outputs (``probabilities [C]``), in input order -> one JSON-ready dict a text."""
        rows = []
        for text, out in zip(texts, outputs):
            probs = out["probabilities"].tolist()
            best = max(range(len(probs)), key=probs.__getitem__)
            rows.append({"text": text.text, "label": self.labels.itos[best],
                         "probabilities": {lab: round(p, 6) for lab, p in zip(self.labels.itos, probs)}})
        return rows
