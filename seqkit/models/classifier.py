"""Many-to-one: embed -> recurrent encoder -> pool -> linear. Sentiment, topic, any sequence classification."""
from __future__ import annotations

from typing import Any, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seqkit.data.batch import lengths_to_mask
from seqkit.models.base import SeqkitModule
from seqkit.nn import RecurrentEncoder, SequencePooling, WordEmbedding, adversarial_perturbation, build_char_encoder

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}


class SequenceClassifier(SeqkitModule):
    """Classify whole sequences.

    vocab_size, num_classes: from the data module. backbone: RecurrentEncoder keyword arguments
    (cell, hidden_size, num_layers, bidirectional, dropout, nonlinearity, impl). pooling: last | mean | max |
    attention. char_encoder: "none" | "cnn" | "lstm" word features from characters (needs the data module's
    ``char_features``; options in ``char``). adversarial: > 0 adds the loss on input features pushed this far
    (L2 norm per sentence) along the loss gradient (``seqkit.nn.adversarial_perturbation``; Miyato et al.
    2017), about twice the training cost. Logs ``{train,val,test}/loss`` and ``{val,test}/acc`` (accuracy)
    and ``/f1`` (macro-F1).
    """

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
        freeze_embeddings: bool = False,
        pretrained_words: int = 0,
        pretrained_vectors: Optional[Tensor] = None,
        pretrained_rows: Optional[Tensor] = None,
        num_chars: int = 0,
        char_encoder: str = "none",
        char: Optional[Dict[str, Any]] = None,
        adversarial: float = 0.0,
    ):
        super().__init__()
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        self.save_hyperparameters(ignore=["pretrained_vectors", "pretrained_rows"])
        self.embedding = WordEmbedding(vocab_size, embedding_dim, embedding_dropout, pretrained_vectors, freeze_embeddings,
                                       word_dropout, pretrained_rows, pretrained_words)
        if char_encoder != "none" and num_chars == 0:
            raise ValueError(f"model.char_encoder={char_encoder} needs characters in the batches: set data.char_features=true")
        self.chars = build_char_encoder(char_encoder, num_chars, **(char or {}))
        features = embedding_dim + (self.chars.output_dim if self.chars is not None else 0)
        self.encoder = RecurrentEncoder(features, **(backbone or {}))
        self.pooling = SequencePooling(pooling, self.encoder.output_size, self.encoder.num_directions)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, num_classes)
        metrics = MetricCollection({
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
        })
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def embed(self, tokens: Tensor, chars: Optional[Tensor] = None, char_lengths: Optional[Tensor] = None) -> Tensor:
        """tokens [B, T] (chars [B, T, C], char_lengths [B, T] with a char encoder) -> features [B, T, D]."""
        features = self.embedding(tokens)
        if self.chars is not None:
            features = torch.cat([features, self.chars(chars, char_lengths)], dim=-1)
        return features

    def classify(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """outputs [B, T, H * directions], lengths [B] -> logits [B, classes]."""
        lengths = lengths.to(outputs.device)
        return self.head(self.dropout(self.pooling(outputs, lengths_to_mask(lengths, outputs.size(1)), lengths)))

    def forward(self, tokens: Tensor, lengths: Tensor, chars: Optional[Tensor] = None,
                char_lengths: Optional[Tensor] = None) -> Tensor:
        """tokens [B, T], lengths [B] (chars [B, T, C], char_lengths [B, T] with a char encoder) -> logits [B, classes]."""
        return self.classify(self.encoder(self.embed(tokens, chars, char_lengths), lengths)[0], lengths)

    def training_step(self, batch, batch_idx: int) -> Tensor:
        features = self.embed(batch.tokens, batch.chars, batch.char_lengths)
        outputs = self.encoder(features, batch.lengths)[0]
        loss = F.cross_entropy(self.classify(outputs, batch.lengths), batch.labels)
        if self.hparams.adversarial <= 0:
            self.log_train_loss(loss, len(batch))
            return loss
        r = adversarial_perturbation(loss, features, self.hparams.adversarial)
        adversarial_loss = F.cross_entropy(self.classify(self.encoder(features + r, batch.lengths)[0], batch.lengths),
                                           batch.labels)
        total = loss + adversarial_loss
        self.log_train_loss(total, len(batch), class_loss=loss, adversarial_loss=adversarial_loss)
        return total

    def _evaluate(self, batch, metrics: MetricCollection, stage: str) -> None:
        logits = self(batch.tokens, batch.lengths, batch.chars, batch.char_lengths)
        self.log(f"{stage}/loss", F.cross_entropy(logits, batch.labels), batch_size=len(batch))
        metrics.update(logits, batch.labels)
        self.log_dict(metrics, prog_bar=stage == "val", batch_size=len(batch))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """-> {"index": [B], "probabilities": [B, num_classes]}."""
        return {"index": batch.index, "probabilities": self(batch.tokens, batch.lengths, batch.chars, batch.char_lengths).softmax(-1)}
