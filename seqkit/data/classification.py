"""LightningDataModule for many-to-one tasks: one label a text (sentiment, topic, intent)."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

from seqkit.data.builtin import builtin_files
from seqkit.data.classification_input import Example, TextClassificationInput  # noqa: F401 (Example: imported from here)
from seqkit.data.datamodule import SeqkitDataModule, log
from seqkit.data.labelled_text import LabelledText, read_labelled_text
from seqkit.data.tokenizer import Tokenizer
from seqkit.data.vocab import Vocabulary


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


class TextClassificationDataModule(TextClassificationInput, SeqkitDataModule):
    """Texts with one label each.

    Either ``builtin="sentiment_labelled"`` (shipped data, split ``split`` = train/val/test fractions with
    ``split_seed``, stratified by label), or your own files: ``train_path`` (required), ``val_path`` (if
    missing, a stratified ``split[1]`` share of train is held out), ``test_path`` (optional), all in ``format``.
    The vocabulary (``min_freq``, ``max_vocab_size``) and label set come from the training split only.
    pretrained: "glove-6b-50d" or a GloVe/word2vec text file: every word they cover is read through its
    vector, in training and in any later text (see seqkit.data.pretrained).
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
        self.vocab = Vocabulary.build(
            (self.tokenizer(e.text) for e in train),
            min_freq=self.hparams.min_freq,
            max_size=self.hparams.max_vocab_size,
        )
        self.labels = Vocabulary(sorted({e.label for e in train}), unk=False, pad=False)
        if self.hparams.char_features:
            self.chars = Vocabulary.build((c for t in self.tokenizer(e.text) for c in t) for e in train)
        if self.hparams.pretrained:
            self.use_pretrained(self.hparams.pretrained)
        log(f"{len(train)} training texts, vocabulary {len(self.vocab)}, labels {self.labels.itos}")

    # ---- what the model needs, what the checkpoint keeps ---------------------------------------
    def model_kwargs(self) -> Dict[str, Any]:
        kwargs = {"vocab_size": len(self.vocab), "num_classes": len(self.labels), **self.embedding_kwargs()}
        return {**kwargs, "num_chars": len(self.chars)} if self.chars is not None else kwargs

    def state_fields(self) -> Dict[str, Any]:
        return {**super().state_fields(), "tokenizer": Tokenizer}
