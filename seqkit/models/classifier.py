"""Many-to-one: embed -> recurrent encoder -> pool -> linear. Sentiment, topic, any sequence classification."""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seqkit.models.base import SeqkitModule
from seqkit.nn import RecurrentEncoder, SequencePooling, WordEmbedding

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}


class SequenceClassifier(SeqkitModule):
    """Classify whole sequences.

    vocab_size, num_classes: from the data module. backbone: RecurrentEncoder keyword arguments
    (cell, hidden_size, num_layers, bidirectional, dropout, nonlinearity, impl). pooling: last | mean | max |
    attention. Logs ``{train,val,test}/loss`` and ``{val,test}/acc`` (accuracy) and ``/f1`` (macro-F1).
    """

    monitor = "val/acc"

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        word_dropout: float = 0.0,
        backbone: Optional[Dict[str, Any]] = None,
        pooling: str = "last",
        dropout: float = 0.0,
        optimizer: Optional[Dict[str, Any]] = None,
        scheduler: Optional[Dict[str, Any]] = None,
        pretrained_embeddings: Optional[Tensor] = None,
        freeze_embeddings: bool = False,
    ):
        super().__init__()
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        self.save_hyperparameters(ignore=["pretrained_embeddings"])
        self.embedding = WordEmbedding(vocab_size, embedding_dim, embedding_dropout, pretrained_embeddings, freeze_embeddings,
                                       word_dropout=word_dropout)
        self.encoder = RecurrentEncoder(embedding_dim, **(backbone or {}))
        self.pooling = SequencePooling(pooling, self.encoder.output_size, self.encoder.num_directions)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, num_classes)
        metrics = MetricCollection({
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        })
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [B, T], lengths [B] -> logits [B, num_classes]."""
        mask = torch.arange(tokens.size(1), device=tokens.device)[None, :] < lengths.to(tokens.device)[:, None]
        outputs, _ = self.encoder(self.embedding(tokens), lengths)
        return self.head(self.dropout(self.pooling(outputs, mask, lengths.to(tokens.device))))

    def training_step(self, batch, batch_idx: int) -> Tensor:
        loss = F.cross_entropy(self(batch.tokens, batch.lengths), batch.labels)
        self.log_train_loss(loss, len(batch))
        return loss

    def _evaluate(self, batch, metrics: MetricCollection, stage: str) -> None:
        logits = self(batch.tokens, batch.lengths)
        self.log(f"{stage}/loss", F.cross_entropy(logits, batch.labels), batch_size=len(batch))
        metrics.update(logits, batch.labels)
        self.log_dict(metrics, prog_bar=stage == "val", batch_size=len(batch))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """-> {"index": [B], "probabilities": [B, num_classes]}."""
        return {"index": batch.index, "probabilities": self(batch.tokens, batch.lengths).softmax(-1)}
