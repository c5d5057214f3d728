"""One-to-many: labelled sentences as a class-conditional language model's data (generate a sentence of a class).

The same files and splits as ``TextClassificationDataModule`` (built-in sentiment sentences: 80/10/10
stratified, seed 13); each sentence is its own sequence: ``<eos>`` then its words as inputs, its words then
``<eos>`` as targets, and its label as the batch's ``condition`` (the model turns it into the initial state).
Sentences are independent, so no state is carried between batches (``carry_state=False``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import torch

from seqkit.data.batch import IGNORE_INDEX, Batch, lengths_of, pad
from seqkit.data.classification import Example, TextClassificationDataModule
from seqkit.data.conditional_lm_text import ConditionalText
from seqkit.data.datamodule import log
from seqkit.data.errors import DataError
from seqkit.data.labelled_text import LabelledText
from seqkit.data.language_model_text import EOS
from seqkit.data.vocab import Vocabulary


class ConditionalLanguageModelingDataModule(ConditionalText, TextClassificationDataModule):
    """Word-level sentences with a class each (``TextClassificationDataModule``'s options: builtin, files,
    format, split, tokenizer, min_freq, max_vocab_size). ``condition=<label>`` picks the class to generate
    (``ConditionalText``, shared with generation's ConditionalLanguageModelReader)."""

    condition_shift = 0  # evaluate.py options.flip_condition=true: 1, each sentence is read under another class

    def set_evaluate_options(self, flip_condition: bool = False) -> None:
        """evaluate.py's ``options.flip_condition=true``: give every sentence the next class instead of its own
        (the other one of two), so the loss says how much the model relies on the class (true vs flipped)."""
        self.condition_shift = 1 if flip_condition else 0

    def build_vocabularies(self, splits: Dict[str, tuple]) -> None:
        train = splits["train"][0]
        self.vocab = Vocabulary.build(
            (self.tokenizer(e.text) for e in train),
            min_freq=self.hparams.min_freq,
            max_size=self.hparams.max_vocab_size,
            specials=[EOS],
        )
        self.labels = Vocabulary(sorted({e.label for e in train}), unk=False, pad=False)
        log(f"{len(train)} training sentences, vocabulary {len(self.vocab)}, conditions {self.labels.itos}")

    def collate(self, examples: List[Example]) -> Batch:
        eos = self.vocab.index(EOS)
        inputs = [[eos, *e.ids] for e in examples]
        targets = [[*e.ids, eos] for e in examples]
        return Batch(
            tokens=pad(inputs),
            lengths=lengths_of(inputs),
            index=torch.tensor([e.index for e in examples]),
            labels=pad(targets, value=IGNORE_INDEX),
            condition=(torch.tensor([e.label for e in examples]) + self.condition_shift) % len(self.labels),
        )

    def model_kwargs(self) -> Dict[str, Any]:
        return {
            "vocab_size": len(self.vocab),
            "level": "word",
            "num_conditions": len(self.labels),
            "carry_state": False,
        }

    def set_predict_input(self, lines: List[Tuple[int, str]], source: str) -> List[LabelledText]:
        raise DataError(
            source,
            None,
            "a conditional language model generates text (scripts/generate.py ... condition=<label>); "
            "it does not predict labels",
        )
