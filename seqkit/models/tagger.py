"""Many-to-many aligned: one tag a token (NER, POS). Word + character features -> BiRNN -> softmax or CRF."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.classification import MulticlassAccuracy

from seqkit.data.batch import IGNORE_INDEX
from seqkit.models.base import SeqkitModule
from seqkit.models.classifier import DEFAULT_OPTIMIZER
from seqkit.models.metrics import EntityF1
from seqkit.nn import CRF, RecurrentEncoder, WordEmbedding, build_char_encoder, iob_constraints
from seqkit.nn.dropout import Dropout


class SequenceTagger(SeqkitModule):
    """Tag every token.

    tags: tag names (from the data module); scheme: "iob2" / "iobes" (entities: entity-level F1 with
    seqeval, and with ``constrained`` the CRF forbids invalid moves such as O -> I-PER) or "none" (POS:
    token accuracy). head: "crf" (linear-chain CRF, Viterbi decoding) or "softmax" (independent tags).
    char_encoder: "none" | "cnn" (Ma & Hovy 2016) | "lstm" (Lample et al. 2016), options in ``char``.
    sparse_embeddings: the word table gets sparse gradients and lazy Adam updates (``seqkit.optim``).
    Logs ``{val,test}/acc`` (tokens) and, for entities, ``/precision``, ``/recall``, ``/f1`` and ``/f1_<TYPE>``.
    """

    def __init__(
        self,
        vocab_size: int,
        tags: List[str],
        num_chars: int = 0,
        scheme: str = "iob2",
        embedding_dim: int = 100,
        embedding_dropout: float = 0.5,
        word_dropout: float = 0.0,
        char_encoder: str = "cnn",
        char: Optional[Dict[str, Any]] = None,
        backbone: Optional[Dict[str, Any]] = None,
        head: str = "crf",
        constrained: bool = True,
        dropout: float = 0.5,
        optimizer: Optional[Dict[str, Any]] = None,
        scheduler: Optional[Dict[str, Any]] = None,
        freeze_embeddings: bool = False,
        pretrained_words: int = 0,
        pretrained_vectors: Optional[Tensor] = None,
        pretrained_rows: Optional[Tensor] = None,
        sparse_embeddings: bool = False,
    ):
        super().__init__()
        if head not in ("crf", "softmax"):
            raise ValueError(f"model.head must be 'crf' or 'softmax', got {head!r}")
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        self.save_hyperparameters(ignore=["pretrained_vectors", "pretrained_rows"])
        self.embedding = WordEmbedding(
            vocab_size,
            embedding_dim,
            0.0,
            pretrained_vectors,
            freeze_embeddings,
            word_dropout,
            pretrained_rows,
            pretrained_words,
            sparse_embeddings,
        )
        self.chars = build_char_encoder(char_encoder, num_chars, **(char or {}))
        features = embedding_dim + (self.chars.output_dim if self.chars is not None else 0)
        self.input_dropout = Dropout(embedding_dropout)
        self.encoder = RecurrentEncoder(features, **(backbone or {}))
        self.dropout = Dropout(dropout)
        self.emissions = nn.Linear(self.encoder.output_size, len(tags))
        self.entities = scheme in ("iob2", "iobes")
        self.crf = None
        if head == "crf":
            self.crf = CRF(len(tags), iob_constraints(tags, scheme) if constrained and self.entities else None)
        self.val_acc = MulticlassAccuracy(len(tags), average="micro", ignore_index=IGNORE_INDEX)
        self.test_acc = self.val_acc.clone()
        if self.entities:
            self.val_entities, self.test_entities = EntityF1(tags, scheme), EntityF1(tags, scheme)

    def forward(self, batch) -> Tensor:
        """-> emission scores [B, T, num_tags]."""
        features = self.embedding(batch.tokens)
        if self.chars is not None:
            features = torch.cat([features, self.chars(batch.chars, batch.char_lengths)], dim=-1)
        outputs = self.encoder.outputs(self.input_dropout(features), batch.lengths)
        return self.emissions(self.dropout(outputs))

    def loss(self, emissions: Tensor, batch) -> Tensor:
        if self.crf is not None:  # float32 even under mixed precision: path scores sum over a whole sentence
            return self.crf.nll(emissions.float(), batch.labels, batch.mask, reduction="mean")
        return F.cross_entropy(emissions.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX)

    def decode(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """Best tag ids [B, T] (0 at padding)."""
        if self.crf is not None:
            return self.crf.viterbi(emissions.float(), mask)[0]
        return emissions.argmax(-1).masked_fill(~mask, 0)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss = self.loss(self(batch), batch)
        self.log_train_loss(loss, len(batch))
        return loss

    def _evaluate(self, batch, stage: str) -> None:
        emissions = self(batch)
        mask = batch.mask
        self.log(f"{stage}/loss", self.loss(emissions, batch), batch_size=len(batch))
        preds = self.decode(emissions, mask)
        accuracy = getattr(self, f"{stage}_acc")
        accuracy.update(preds.masked_fill(~mask, IGNORE_INDEX), batch.labels)
        self.log(f"{stage}/acc", accuracy, prog_bar=not self.entities, batch_size=len(batch))
        if self.entities:
            getattr(self, f"{stage}_entities").update(preds, batch.labels, mask)

    def _log_entities(self, stage: str) -> None:
        if self.entities:
            metric = getattr(self, f"{stage}_entities")
            scores = metric.compute()
            self.log(f"{stage}/f1", scores.pop("f1"), prog_bar=True)
            self.log_dict({f"{stage}/{k}": v for k, v in scores.items()})
            metric.reset()

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_entities("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_entities("test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """-> {"index": [B], "tags": [B, T] best tag ids}."""
        return {"index": batch.index, "tags": self.decode(self(batch), batch.mask)}
