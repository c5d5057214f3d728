"""The many-to-one network alone: embed -> recurrent encoder -> pool -> linear, in plain torch.nn.

``seqkit.models.SequenceClassifier`` is this network plus training (losses, metrics, optimiser); prediction
builds just the network from a checkpoint's hyper-parameters (``from_hparams``) and its ``state_dict``,
without importing Lightning. Both share these attribute names, so one state_dict fits both.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from seqkit.nn.char_encoder import build_char_encoder
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder
from seqkit.nn.lstm_inference import word_lstm_inference
from seqkit.nn.padding import lengths_to_mask
from seqkit.nn.pooling import SequencePooling


class ClassifierNetwork(nn.Module):
    """Token ids [B, T] (or real-valued features [B, T, input_size]) and lengths [B] -> logits [B, classes]
    (``objective="regression"``: values [B]). Arguments as ``SequenceClassifier``'s of the same names."""

    def __init__(
        self,
        vocab_size: int = 0,
        num_classes: int = 0,
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        word_dropout: float = 0.0,
        backbone: Optional[Dict[str, Any]] = None,
        pooling: str = "last",
        dropout: float = 0.0,
        freeze_embeddings: bool = False,
        pretrained_words: int = 0,
        pretrained_vectors: Optional[Tensor] = None,
        pretrained_rows: Optional[Tensor] = None,
        num_chars: int = 0,
        char_encoder: str = "none",
        char: Optional[Dict[str, Any]] = None,
        objective: str = "classification",
        input_size: int = 0,
        sparse_embeddings: bool = False,
    ):
        super().__init__()  # as SequenceClassifier's base, this runs LightningModule's __init__ too
        if objective not in ("classification", "regression"):
            raise ValueError(f"model.objective must be 'classification' or 'regression', got {objective!r}")
        if objective == "classification" and num_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {num_classes}")
        self.regression = objective == "regression"
        self.embedding = None
        if input_size > 0:
            embedding_dim = input_size
        else:
            self.embedding = WordEmbedding(vocab_size, embedding_dim, embedding_dropout, pretrained_vectors, freeze_embeddings,
                                           word_dropout, pretrained_rows, pretrained_words, sparse_embeddings)
        if char_encoder != "none" and num_chars == 0:
            raise ValueError(f"model.char_encoder={char_encoder} needs characters in the batches: set data.char_features=true")
        self.chars = build_char_encoder(char_encoder, num_chars, **(char or {}))
        features = embedding_dim + (self.chars.output_dim if self.chars is not None else 0)
        self.encoder = RecurrentEncoder(features, **(backbone or {}))
        self.pooling = SequencePooling(pooling, self.encoder.output_size, self.encoder.num_directions)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, 1 if self.regression else num_classes)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any], **extra: Any) -> "ClassifierNetwork":
        """The network of a SequenceClassifier's saved hyper-parameters (training-only ones are left out)."""
        names = inspect.signature(ClassifierNetwork.__init__).parameters
        return cls(**{k: v for k, v in hparams.items() if k in names}, **extra)

    def embed(self, tokens: Tensor, chars: Optional[Tensor] = None, char_lengths: Optional[Tensor] = None) -> Tensor:
        """tokens [B, T] (chars [B, T, C], char_lengths [B, T] with a char encoder) -> features [B, T, D].
        With ``input_size`` > 0, ``tokens`` are already real-valued features [B, T, input_size] and pass through."""
        if self.embedding is None:
            return tokens
        features = self.embedding(tokens)
        if self.chars is not None:
            features = torch.cat([features, self.chars(chars, char_lengths)], dim=-1)
        return features

    def classify(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        """outputs [B, T, H * directions], lengths [B] -> logits [B, classes] (regression: values [B])."""
        lengths = lengths.to(outputs.device)
        return self.logits_of_pooled(self.pooling(outputs, lengths_to_mask(lengths, outputs.size(1)), lengths))

    def logits_of_pooled(self, pooled: Tensor) -> Tensor:
        """The pooled sentence vector [B, H * directions] -> logits [B, classes] (regression: values [B])."""
        out = self.head(self.dropout(pooled))
        return out.squeeze(-1) if self.regression else out

    @staticmethod
    def inputs(batch) -> Tensor:
        """The batch's model input: token ids [B, T], or real-valued features [B, T, F]."""
        return batch.tokens if batch.features is None else batch.features

    def forward(self, tokens: Tensor, lengths: Tensor, chars: Optional[Tensor] = None,
                char_lengths: Optional[Tensor] = None) -> Tensor:
        """tokens [B, T], lengths [B] (chars [B, T, C], char_lengths [B, T] with a char encoder) -> logits [B, classes]."""
        return self.classify(self.encoder.outputs(self.embed(tokens, chars, char_lengths), lengths), lengths)

    def _predict_logits(self, batch) -> Optional[Tensor]:
        """Logits [B, classes] through WordLSTMInference; None where it does not apply (see word_lstm_inference)."""
        if self.chars is not None or batch.features is not None:
            return None
        fast = word_lstm_inference(self.embedding, self.encoder, self.__dict__.setdefault("_inference_cache", {}))
        if fast is None:
            return None
        if self.pooling.method == "max":  # pooled inside the recurrence: no [B, T, H] outputs kept
            return self.logits_of_pooled(fast.max_pooled(batch.tokens, batch.lengths))
        return self.classify(fast(batch.tokens, batch.lengths), batch.lengths)

    def predict_step(self, batch, batch_idx: int = 0, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """A Batch -> {"index": [B], "probabilities": [B, num_classes]} (regression: {"index", "value": [B]}).
        Lightning's hook name: SequenceClassifier inherits it. Without gradients, a one-layer LSTM over words runs
        as seqkit.nn.lstm_inference.WordLSTMInference (input gates looked up: about 1.5x faster, equal to nn.LSTM
        up to float rounding), so Trainer.predict and seqkit.light_predict both get it."""
        out = self._predict_logits(batch) if not torch.is_grad_enabled() else None
        if out is None:
            out = self(self.inputs(batch), batch.lengths, batch.chars, batch.char_lengths)
        if self.regression:
            return {"index": batch.index, "value": out}
        return {"index": batch.index, "probabilities": out.softmax(-1)}
