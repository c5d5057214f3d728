"""Texts with one label each, without Lightning: reading (``error: file:line: reason``), the vocabularies learnt
from the training split, encoding, batching, prediction input and output formatting.

The training data module (``ClassificationDataModule``) and the application (``seqkit.app``: predict, evaluate)
both run this one codec, so they read, encode and batch exactly alike. Its ``state_dict`` (vocabulary, labels,
characters, tokeniser, the pretrained vectors' identity) is what a checkpoint keeps to rebuild it.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import torch

from seqkit.data.batch import Batch, encode_records, lengths_of, pad, pad_chars
from seqkit.data.builtin import builtin_files
from seqkit.data.codec import SHARED_DEFAULTS, Codec
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import FORMATS, LabelledText, iter_labelled_text, parse_line, read_labelled_text
from seqkit.data.notice import log
from seqkit.data.streaming import STREAM_DEFAULTS
from seqkit.data.tokenizer import Tokenizer
from seqkit.data.vocab import Vocabulary

Splits = Dict[str, Tuple[List[LabelledText], str]]  # split -> (raw examples, source name for errors)


@dataclass
class Example:
    index: int
    ids: List[int]
    label: int  # -1 when unlabelled
    chars: Optional[List[List[int]]] = None  # character ids of each token, with char_features


def stratified_split(
    examples: Sequence[Any], labels: Sequence[str], fractions: Sequence[float], seed: int
) -> List[List[Any]]:
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
            parts[k].extend(group[bounds[k] : bounds[k + 1]])
    return parts


DEFAULTS = {
    "train_path": None,
    "val_path": None,
    "test_path": None,
    "format": "text_tab_label",
    "builtin": None,
    "split": (0.8, 0.1, 0.1),
    "split_seed": 13,
    "tokenizer": None,
    "min_freq": 1,
    "max_vocab_size": None,
    "pretrained": None,
    "char_features": False,
    **STREAM_DEFAULTS,
    **SHARED_DEFAULTS,
}


class ClassificationCodec(Codec):
    """Reads, encodes, batches and formats texts with one label each (``task=sentiment``).

    Settings (``DEFAULTS``; ``seqkit/configs/task/sentiment.yaml`` ``data.*``):

    builtin: shipped data (``sentiment_labelled``), used while ``train_path`` is null: split ``split`` =
        train/val/test fractions with ``split_seed``, stratified by label.
    train_path / val_path / test_path: your own files, all in ``format`` (``text_tab_label``: "<text>\t<label>",
        ``label_space_text``: "<label> <text>"); without ``val_path`` a stratified ``split[1]`` share of train
        is held out. root: the directory relative paths are read from.
    tokenizer: ``seqkit.data.tokenizer.Tokenizer``'s settings (mode, lowercase).
    min_freq / max_vocab_size: the vocabulary, learnt (with the label set) from the training split only.
    pretrained: "glove-6b-50d" or a GloVe/word2vec text file. char_features: batches also carry characters.
    batch_size / eval_batch_size: training / evaluation (validation, test, prediction) batches (null: batch_size).
    streaming: read the training file as a stream, not into memory: auto (a file over 100 MB), true or false;
        shuffle_buffer: the examples a stream shuffles and buckets at a time (``seqkit.data.streaming``).
    The data module's loaders also take ``bucketing`` and ``num_workers`` (``seqkit.data.codec_datamodule``).
    """

    defaults = DEFAULTS
    # the state: the vocabularies, the tokeniser (older checkpoints lack it: the settings' one), then "pretrained"
    state_fields = {"vocab": Vocabulary, "labels": Vocabulary, "chars": Vocabulary, "tokenizer": Tokenizer}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.tokenizer = Tokenizer(**(self.hparams.tokenizer or {}))
        self.vocab: Optional[Vocabulary] = None
        self.labels: Optional[Vocabulary] = None
        self.chars: Optional[Vocabulary] = None

    @property
    def built(self) -> bool:
        return self.vocab is not None

    # ---- reading and vocabularies --------------------------------------------------------------
    def read(self, path: str, fmt: Optional[str] = None) -> List[LabelledText]:
        """Labelled texts of a file (``fmt``: the training format by default); DataError at a bad line."""
        return read_labelled_text(self.resolve(path), fmt or self.hparams.format)

    def read_splits(self, streamed: Sequence[str] = ()) -> Splits:
        """-> {split: (examples, source name for errors)} for the splits these settings give, but those ``streamed``."""
        hp = self.hparams
        if "train" in streamed and hp.val_path is None:
            raise ValueError(
                "a streamed training file needs data.val_path (no share of a stream is held out); "
                "or give data.streaming=false"
            )
        if hp.builtin is not None and hp.train_path is None:
            examples: List[LabelledText] = []
            for path in builtin_files(hp.builtin, "all"):
                examples.extend(read_labelled_text(path, "text_tab_label"))
            train, val, test = stratified_split(examples, [e.label for e in examples], hp.split, hp.split_seed)
            return {"train": (train, hp.builtin), "val": (val, hp.builtin), "test": (test, hp.builtin)}
        splits: Splits = {}
        if hp.train_path is not None and "train" not in streamed:
            train = self.read(hp.train_path)
            if hp.val_path is None:
                held = hp.split[1] / (hp.split[0] + hp.split[1])
                train, val = stratified_split(train, [e.label for e in train], (1 - held, held), hp.split_seed)
                splits["val"] = (val, str(self.resolve(hp.train_path)))
            splits["train"] = (train, str(self.resolve(hp.train_path)))
        for name, path in (("val", hp.val_path), ("test", hp.test_path)):
            if path is not None:
                splits[name] = (self.read(path), str(self.resolve(path)))
        return splits

    def build(self, train: Iterable[LabelledText]) -> None:
        """Learn the vocabulary, labels (and characters) from the training split only, in one pass (a stream too)."""
        hp = self.hparams
        words, labels, chars, n = Counter(), set(), Counter(), 0
        for n, example in enumerate(train, start=1):
            tokens = self.tokenizer(example.text)
            words.update(tokens)
            labels.add(example.label)
            if hp.char_features:
                chars.update(c for t in tokens for c in t)
        self.vocab = Vocabulary.from_counts(words, min_freq=hp.min_freq, max_size=hp.max_vocab_size)
        self.labels = Vocabulary(sorted(labels), unk=False, pad=False)
        if hp.char_features:
            self.chars = Vocabulary.from_counts(chars)
        if hp.pretrained:
            self.use_pretrained(hp.pretrained)
        log(f"{n} training texts, vocabulary {len(self.vocab)}, labels {self.labels.itos}")

    def iter_examples(self, path: str) -> Iterator[Tuple[int, LabelledText]]:
        """(line, example) of a training-format file, read lazily (``seqkit.data.streaming``)."""
        return ((e.line, e) for e in iter_labelled_text(self.resolve(path), self.hparams.format))

    def network_kwargs(self) -> Dict[str, Any]:
        """What the network needs of the data: sizes, and the pretrained vectors' table and rows."""
        kwargs: Dict[str, Any] = {"vocab_size": len(self.vocab), "num_classes": len(self.labels)}
        if self.vectors is not None:
            kwargs.update(self.vectors.network_kwargs(self.vocab))
        return {**kwargs, "num_chars": len(self.chars)} if self.chars is not None else kwargs

    # ---- encoding and batching -----------------------------------------------------------------
    def encode(self, examples: Iterable[LabelledText], source: str) -> List[Example]:
        """Raw texts -> Examples; a label the training data never had is a DataError at its line."""
        out = []
        for i, ex in enumerate(examples):
            if ex.label is not None and ex.label not in self.labels:
                raise DataError(source, ex.line, f"label {ex.label!r} is not in the training labels {self.labels.itos}")
            tokens = self.tokenizer(ex.text)  # never empty: readers reject blank texts
            label = -1 if ex.label is None else self.labels.index(ex.label)
            chars = [self.chars.encode(t) for t in tokens] if self.chars is not None else None
            out.append(Example(i, self.encode_words(tokens), label, chars))
        return out

    def example_length(self, example: Example) -> int:
        return len(example.ids)

    def collate(self, examples: List[Example]) -> Batch:
        ids = [e.ids for e in examples]
        labels = torch.tensor([e.label for e in examples], dtype=torch.long)
        chars, char_lengths = pad_chars([e.chars for e in examples]) if self.chars is not None else (None, None)
        return Batch(
            tokens=pad(ids),
            lengths=lengths_of(ids),
            index=torch.tensor([e.index for e in examples]),
            labels=None if (labels < 0).any() else labels,
            chars=chars,
            char_lengths=char_lengths,
        )

    # ---- prediction ----------------------------------------------------------------------------
    def set_predict_input(
        self, lines: List[Tuple[int, str]], source: str, input_format: Optional[str] = None, output_format: str = "json"
    ) -> List[LabelledText]:
        """Numbered raw lines -> the ``predict`` data set; returns one record a line, blank lines included.

        input_format: the training ``format`` by default, whose label is read, checked against the training
        labels and otherwise ignored (a ``text_tab_label`` line without a tab is all text); ``text``: the
        whole line is the text. A blank line is a record with no text (its prediction is empty).
        """
        if output_format != "json":
            raise ValueError(
                f"options.output_format={output_format}: a text classifier writes JSON lines only "
                "(output_format=conll is for taggers)"
            )
        fmt = input_format or self.hparams.format
        if fmt not in FORMATS:
            raise ValueError(f"options.input_format must be one of {FORMATS}, got {fmt!r}")
        texts = []
        for number, line in lines:
            if not line.strip():
                texts.append(LabelledText("", None, number))
                continue
            no_label = fmt == "text" or (fmt == "text_tab_label" and "\t" not in line)
            body, label, problem = (line.strip(), None, None) if no_label else parse_line(line, fmt)
            if problem is None and label is not None and label not in self.labels:
                problem = f"label {label!r} is not in the training labels {self.labels.itos}"
            if problem:
                raise DataError(
                    source,
                    number,
                    f"{problem} (input is read as {fmt}, the checkpoint's training "
                    f"format; for plain text give options.input_format=text)",
                )
            texts.append(LabelledText(body, None, number))
        self.datasets["predict"] = encode_records(self.encode, texts, lambda t: bool(t.text), source)
        return texts

    def format_predictions(
        self, texts: List[LabelledText], outputs: List[Optional[Dict[str, torch.Tensor]]]
    ) -> List[Dict[str, Any]]:
        """Per-text network outputs (``probabilities [C]``; None for a blank line), in input order -> one
        JSON-ready dict a text."""
        rows = []
        for text, out in zip(texts, outputs):
            if out is None:
                rows.append({"text": text.text, "label": None, "probabilities": None})
                continue
            probs = out["probabilities"].tolist()
            best = max(range(len(probs)), key=probs.__getitem__)
            rows.append(
                {
                    "text": text.text,
                    "label": self.labels.itos[best],
                    "probabilities": {lab: round(p, 6) for lab, p in zip(self.labels.itos, probs)},
                }
            )
        return rows


class AddingCodec(Codec):
    """The adding problem (``task=adding``), generated from a seed (``seqkit.data.generated.adding_problem``): no
    files and nothing learnt but ``target_mean``, the training targets' mean (the network's baseline).

    Settings: ``length`` steps a sequence; ``train_size`` / ``val_size`` / ``test_size`` sequences, generated from
    ``seed`` (train: seed, val: seed + 1, test: seed + 2). Its data module adds the loaders' settings
    (``root``, unused; ``batch_size``, ``eval_batch_size``, ``bucketing``, ``num_workers``).
    Batches carry real-valued inputs [B, T, 2] (``Batch.features``); the network gets ``input_size=2`` and
    ``target_mean`` (its predict-the-mean baseline).
    """

    defaults = {"length": 100, "train_size": 10000, "val_size": 1000, "test_size": 0, "seed": 0}

    def __init__(self, **settings: Any):
        super().__init__(**settings)
        self.target_mean: Optional[float] = None

    def state_dict(self) -> Dict[str, Any]:
        return {} if self.target_mean is None else {"target_mean": self.target_mean}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.target_mean = state.get("target_mean", self.target_mean)

    @property
    def built(self) -> bool:
        return self.target_mean is not None

    def read_splits(self) -> Dict[str, Tuple[List[Any], str]]:
        from seqkit.data.generated import SPLITS, SyntheticExample, adding_problem

        hp, splits = self.hparams, {}
        for k, name in enumerate(SPLITS):
            n = hp[f"{name}_size"]
            if n > 0:
                inputs, targets = adding_problem(n, hp.length, torch.Generator().manual_seed(hp.seed + k))
                splits[name] = (
                    [SyntheticExample(i, x, y) for i, (x, y) in enumerate(zip(inputs, targets))],
                    f"<AddingDataModule {name}>",
                )
        return splits

    def build(self, train: List[Any]) -> None:
        self.target_mean = float(torch.stack([e.target for e in train]).mean())

    def encode(self, examples: List[Any], source: str) -> List[Any]:
        return examples

    def example_length(self, example: Any) -> int:
        return example.inputs.size(0)

    def collate(self, examples: List[Any]) -> Batch:
        features = torch.stack([e.inputs for e in examples])
        return Batch(
            tokens=None,
            features=features,
            lengths=torch.full((len(examples),), features.size(1)),
            index=torch.tensor([e.index for e in examples]),
            labels=torch.stack([e.target for e in examples]),
        )

    def network_kwargs(self) -> Dict[str, Any]:
        return {"input_size": 2, "target_mean": self.target_mean}
