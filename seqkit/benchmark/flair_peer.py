"""A Flair BiLSTM-CRF of the seqkit tagger recipe's size, trained on the very batches seqkit trains on.

Needs ``pip install -e ".[bench]"`` (Flair 0.15.1); without it ``flair_version()`` is None and the benchmark
says so. The peer is what a Flair user builds for NER: ``OneHotEmbeddings`` (a trainable word table of
``model.embedding_dim``, the training words) stacked with ``CharacterEmbeddings`` (a character BiLSTM of 2 x 25
= 50 features, as wide as seqkit's 50-filter character CNN), a BiLSTM of ``backbone.hidden_size`` a direction and
a CRF over BIO tags of the entity types, no re-projection of the embeddings; word dropout as the recipe's,
locked dropout 0.5. A step is Flair's ``ModelTrainer`` step: ``forward_loss``, backward, clip the gradient
norm, optimiser step, clear the tokens' embeddings (``store_embeddings(batch, "none")``).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any, List, Optional, Sequence, Tuple


def flair_version() -> Optional[str]:
    try:
        import flair
    except ImportError:
        return None
    return str(flair.__version__)


def iob2_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """IOB2 tags -> entity spans (start, end exclusive, type). ``["B-PER", "I-PER", "O", "B-LOC"]`` ->
    ``[(0, 2, "PER"), (3, 4, "LOC")]``."""
    spans: List[Tuple[int, int, str]] = []
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        if kind is not None and not (tag.startswith("I-") and tag[2:] == kind):
            spans.append((start, i, kind))
            start, kind = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and kind is None):
            start, kind = i, tag[2:]
    return spans


class FlairPeer:
    """``FlairPeer(recipe, batches)``: Flair sentences made once from seqkit's collated ``batches`` (the words
    spelled back from their character ids, the gold entities from their tag ids), and ``tagger()`` a fresh
    Flair SequenceTagger of the recipe's size. ``train(tagger, optimizer, clip)`` runs one step a batch."""

    def __init__(self, recipe, batches: Sequence[Any]):
        from flair.data import Dictionary, Sentence

        for name in ("flair", "transformers"):
            logging.getLogger(name).setLevel(logging.ERROR)
        dm = recipe.datamodule
        self.recipe = recipe
        self.chars_itos, self.tags_itos = list(dm.chars.itos), list(dm.tags.itos)
        counts: Counter = Counter()
        for example in dm.datasets["train"]:
            counts.update(self._word(c) for c in example.chars)
        self.words = Dictionary(add_unk=True)
        for word in counts:
            self.words.add_item(word)
        self.chars = Dictionary(add_unk=True)
        for char in self.chars_itos:
            self.chars.add_item(char)
        self.labels = Dictionary(add_unk=False)
        for kind in sorted({t[2:] for t in self.tags_itos if t[:2] in ("B-", "I-")}):
            self.labels.add_item(kind)
        self.labels.span_labels = True
        self.batches: List[list] = []
        for batch in batches:
            sentences = []
            for row, n in enumerate(batch.lengths.tolist()):
                words = [self._word(batch.chars[row, t, : int(batch.char_lengths[row, t])].tolist()) for t in range(n)]
                sentence = Sentence(words)
                tags = [self.tags_itos[i] for i in batch.labels[row, :n].tolist()]
                for start, end, kind in iob2_spans(tags):
                    sentence[start:end].add_label("ner", kind)
                sentences.append(sentence)
            self.batches.append(sentences)

    def _word(self, char_ids: Sequence[int]) -> str:
        return "".join(self.chars_itos[c] for c in char_ids)

    def tagger(self, seed: Optional[int] = None):
        import torch
        from flair.embeddings import CharacterEmbeddings, OneHotEmbeddings, StackedEmbeddings
        from flair.models import SequenceTagger

        if seed is not None:
            torch.manual_seed(seed)
        model = self.recipe.cfg.model
        embeddings = StackedEmbeddings(
            [OneHotEmbeddings(self.words, embedding_length=int(model.embedding_dim)), CharacterEmbeddings(self.chars)]
        )
        backbone = self.recipe.cfg.backbone
        return SequenceTagger(
            embeddings=embeddings,
            tag_dictionary=self.labels,
            tag_type="ner",
            tag_format="BIO",
            hidden_size=int(backbone.hidden_size),
            rnn_layers=int(backbone.num_layers),
            bidirectional=bool(backbone.bidirectional),
            use_crf=True,
            reproject_embeddings=False,
            dropout=0.0,
            word_dropout=float(model.word_dropout),
            locked_dropout=0.5,
        )

    def train(self, tagger, optimizer, clip: Optional[float]) -> None:
        """One epoch over the batches, as Flair's ModelTrainer steps."""
        import torch
        from flair.training_utils import store_embeddings

        tagger.train()
        for sentences in self.batches:
            tagger.zero_grad()
            optimizer.zero_grad()
            loss, _ = tagger.forward_loss(sentences)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(tagger.parameters(), clip)
            optimizer.step()
            store_embeddings(sentences, "none")

    def tokens(self) -> int:
        return sum(len(s) for batch in self.batches for s in batch)
