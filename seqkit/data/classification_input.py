"""What text classification does to examples, without Lightning: encode, batch, read prediction input, format.

``TextClassificationDataModule`` (training) and ``TextClassificationReader`` (prediction restored from a
checkpoint by the earlier Lightning-free prediction path) share these methods, so the two
encode and batch exactly alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

import torch

from seqkit.data.batch import Batch, encode_records, lengths_of, pad, pad_chars
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import FORMATS, LabelledText, parse_line
from seqkit.data.sampler import sorted_batches
from seqkit.data.tokenizer import Tokenizer
from seqkit.data.vocab import Vocabulary


@dataclass
class Example:
    index: int
    ids: List[int]
    label: int  # -1 when unlabelled
    chars: Optional[List[List[int]]] = None  # character ids of each token, with char_features


class TextClassificationInput:
    """Mixin: needs ``hparams`` (format), ``tokenizer``, ``vocab``, ``labels``, ``chars`` (or None),
    ``datasets`` and ``encode_words``."""

    def encode(self, examples: Iterable[LabelledText], source: str) -> List[Example]:
        out = []
        for i, ex in enumerate(examples):
            if ex.label is not None and ex.label not in self.labels:
                raise DataError(source, ex.line, f"label {ex.label!r} is not in the training labels {self.labels.itos}")
            tokens = self.tokenizer(ex.text)  # never empty: readers reject blank texts
            label = -1 if ex.label is None else self.labels.index(ex.label)
            chars = [self.chars.encode(t) for t in tokens] if self.chars is not None else None
            out.append(Example(i, self.encode_words(tokens), label, chars))
        return out

    # ---- batching ------------------------------------------------------------------------------
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
        """Per-text model outputs (``probabilities [C]``; None for a blank line), in input order -> one
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


class _Settings(dict):
    """The data module's saved hyper-parameters, read as attributes (``hparams.format``) like Lightning's."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def restore_tokenizer(hparams: Mapping[str, Any], state: Mapping[str, Any]) -> Tokenizer:
    """The data module's tokeniser: as saved in its state, else (older checkpoints) from its hyper-parameters."""
    return (
        Tokenizer.from_dict(state["tokenizer"])
        if "tokenizer" in state
        else Tokenizer(**(hparams.get("tokenizer") or {}))
    )


class TextClassificationReader(TextClassificationInput):
    """The prediction half of a TextClassificationDataModule, rebuilt from a checkpoint's
    ``datamodule_hyper_parameters`` and data-module state (vocabularies, labels, tokeniser) without Lightning.
    Pretrained vectors are not covered (``supports`` says so): those checkpoints take the Lightning path."""

    def __init__(self, hparams: Mapping[str, Any], state: Mapping[str, Any]):
        self.hparams = _Settings(hparams)
        self.tokenizer = restore_tokenizer(hparams, state)
        self.vocab = Vocabulary.from_dict(state["vocab"])
        self.labels = Vocabulary.from_dict(state["labels"])
        self.chars = Vocabulary.from_dict(state["chars"]) if "chars" in state else None
        self.eval_batch_size = hparams.get("eval_batch_size") or hparams.get("batch_size") or 32
        self.datasets: Dict[str, List[Example]] = {}

    @staticmethod
    def supports(state: Mapping[str, Any]) -> bool:
        return "pretrained" not in state and "vocab" in state and "labels" in state

    def encode_words(self, words: Iterable[str]) -> List[int]:
        return self.vocab.encode(words)

    def predict_batches(self) -> Iterator[Batch]:
        """The ``predict`` set in the data module's evaluation batches (``eval_batch_size``, sorted by length)."""
        examples = self.datasets["predict"]
        for indices in sorted_batches([self.example_length(e) for e in examples], self.eval_batch_size):
            yield self.collate([examples[i] for i in indices])
