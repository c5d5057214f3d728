"""The many-to-one network: embed -> recurrent encoder -> pool -> linear, in plain torch.nn, with its training
objective (``loss``), what its metrics need (``evaluate``) and its predictions (``predict``)."""

from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.adversarial import adversarial_perturbation
from seqkit.nn.embedding import word_features, word_input_layers
from seqkit.nn.encoder import RecurrentEncoder
from seqkit.nn.lstm_inference import word_lstm_inference
from seqkit.nn.padding import lengths_to_mask
from seqkit.nn.pooling import SequencePooling


class ClassifierNetwork(nn.Module):
    """The many-to-one network: embed -> RecurrentEncoder -> pool -> linear; classifies whole sequences, or
    (``objective="regression"``) predicts one number a sequence.

    Args:
        vocab_size: word vocabulary V, from the codec. Default: 0 (with ``input_size``)
        num_classes: classes C, from the codec (>= 2 for classification). Default: 0
        embedding_dim: word embedding size. Default: 128
        embedding_dropout: on the word embeddings. Default: 0.0
        word_dropout: ``WordEmbedding``'s word dropout. Default: 0.0
        backbone: ``RecurrentEncoder`` keyword arguments (cell, hidden_size, num_layers, ...). Default: None
        pooling: "last", "mean", "max" or "attention" (``SequencePooling``). Default: "last"
        dropout: before the linear head. Default: 0.0
        freeze_embeddings: keep the trainable word table fixed. Default: False
        pretrained_words: pretrained vectors N, from the codec. Default: 0
        pretrained_vectors: ``[N + 1, embedding_dim]``, from the codec. Default: None
        pretrained_rows: ``[V]``, from the codec (``WordEmbedding``). Default: None
        num_chars: character vocabulary, from the codec (0: no characters in the batches). Default: 0
        char_encoder: "none", "cnn" or "lstm": word features from characters too. Default: "none"
        char: the character encoder's keyword arguments. Default: None
        objective: "classification" (cross-entropy) or "regression" (mean squared error). Default: "classification"
        input_size: > 0: the inputs are real-valued features of this size (no word embedding). Default: 0
        sparse_embeddings: sparse gradients for the word table (``seqkit.training.optim``). Default: False
        adversarial: > 0 adds the loss on input features pushed this far (L2 norm per sentence) along the loss
            gradient (Miyato et al. 2017), a regulariser that costs a second forward and backward. Default: 0.0
        target_mean: regression: the training targets' mean, the metrics' predict-the-mean baseline. Default: 0.0

    Inputs: tokens, lengths, chars, char_lengths
        - tokens: word ids (or real-valued features with ``input_size``).
        - lengths: each sequence's true length.
        - chars, char_lengths: the tokens' characters, with a char encoder. Default: None

    Outputs: logits over the classes (regression: one value a sequence).

    Shape:
        - tokens: ``[B, T]`` long or ``[B, T, input_size]``; lengths: ``[B]``
        - chars: ``[B, T, C]``; char_lengths: ``[B, T]``
        - output: ``[B, C]`` (regression: ``[B]``)

    Methods (the shape's protocol, each on a Batch):
        - loss: ``{"loss"}``, plus ``"class_loss"`` and ``"adversarial_loss"`` with ``adversarial``
        - evaluate: ``{"loss", "outputs": [B, C] or [B], "targets": [B]}``
        - predict: ``{"index": [B], "probabilities": [B, C]}`` (regression: ``{"index", "value": [B]}``)
    """

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
        adversarial: float = 0.0,
        target_mean: float = 0.0,
    ):
        super().__init__()  # as SequenceClassifier's base, this runs LightningModule's __init__ too
        if objective not in ("classification", "regression"):
            raise ValueError(f"model.objective must be 'classification' or 'regression', got {objective!r}")
        if objective == "classification" and num_classes < 2:
            raise ValueError(f"classification needs at least 2 classes, got {num_classes}")
        self.regression = objective == "regression"
        self.num_classes, self.adversarial, self.target_mean = num_classes, float(adversarial), float(target_mean)
        self.vocab_size, self.input_size, self.num_chars = vocab_size, input_size, num_chars  # sizes (export)
        if char_encoder != "none" and num_chars == 0:
            raise ValueError(
                f"model.char_encoder={char_encoder} needs characters in the batches: set data.char_features=true"
            )
        self.embedding, self.chars, features = word_input_layers(
            vocab_size,
            embedding_dim,
            embedding_dropout,
            pretrained_vectors,
            freeze_embeddings,
            word_dropout,
            pretrained_rows,
            pretrained_words,
            sparse_embeddings,
            char_encoder=char_encoder,
            num_chars=num_chars,
            char=char,
            input_size=input_size,
        )
        self.encoder = RecurrentEncoder(features, **(backbone or {}))
        self.pooling = SequencePooling(pooling, self.encoder.output_size, self.encoder.num_directions)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.output_size, 1 if self.regression else num_classes)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any], **extra: Any) -> "ClassifierNetwork":
        """The network of saved hyper-parameters (keys it does not take, e.g. the optimiser, are left out)."""
        names = inspect.signature(ClassifierNetwork.__init__).parameters
        return cls(**{k: v for k, v in {**hparams, **extra}.items() if k in names and k != "self"})

    # ---- the forward pass, in parts --------------------------------------------------------------
    def embed(self, tokens: Tensor, chars: Optional[Tensor] = None, char_lengths: Optional[Tensor] = None) -> Tensor:
        """tokens [B, T] (chars [B, T, C], char_lengths [B, T] with a char encoder) -> features [B, T, D].
        With ``input_size`` > 0, ``tokens`` are already real-valued features [B, T, input_size] and pass through."""
        return word_features(self.embedding, self.chars, tokens, chars, char_lengths)

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

    def forward(
        self, tokens: Tensor, lengths: Tensor, chars: Optional[Tensor] = None, char_lengths: Optional[Tensor] = None
    ) -> Tensor:
        return self.classify(self.encoder.outputs(self.embed(tokens, chars, char_lengths), lengths), lengths)

    # ---- the shape protocol: loss, evaluate, predict ---------------------------------------------
    def criterion(self, outputs: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy on logits [B, classes] vs class ids [B], or MSE on values [B] vs targets [B]."""
        return F.mse_loss(outputs, targets.to(outputs.dtype)) if self.regression else F.cross_entropy(outputs, targets)

    def loss(self, batch) -> Dict[str, Tensor]:
        """The training objective of a labelled Batch: ``{"loss"}``; with ``adversarial`` > 0 also its parts
        ``{"class_loss", "adversarial_loss"}`` (loss = their sum)."""
        features = self.embed(self.inputs(batch), batch.chars, batch.char_lengths)
        if self.adversarial > 0 and not features.requires_grad:  # frozen inputs: the step is still along d loss/d x
            features = features.detach().requires_grad_()
        outputs = self.encoder.outputs(features, batch.lengths)
        loss = self.criterion(self.classify(outputs, batch.lengths), batch.labels)
        if self.adversarial <= 0:
            return {"loss": loss}
        r = adversarial_perturbation(loss, features, self.adversarial)
        adversarial_loss = self.criterion(
            self.classify(self.encoder.outputs(features + r, batch.lengths), batch.lengths), batch.labels
        )
        return {"loss": loss + adversarial_loss, "class_loss": loss, "adversarial_loss": adversarial_loss}

    def evaluate(self, batch) -> Dict[str, Tensor]:
        """What the metrics need of a labelled Batch: ``{"loss": mean over the batch, "outputs": logits [B, C]
        (regression: values [B]), "targets": [B]}``."""
        out = self(self.inputs(batch), batch.lengths, batch.chars, batch.char_lengths)
        return {"loss": self.criterion(out, batch.labels), "outputs": out, "targets": batch.labels}

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

    def predict(self, batch) -> Dict[str, Tensor]:
        """A Batch -> ``{"index": [B], "probabilities": [B, num_classes]}`` (regression: ``{"index", "value": [B]}``).
        Without gradients a one-layer LSTM over words runs as ``seqkit.nn.lstm_inference.WordLSTMInference``
        (input gates looked up; equal to nn.LSTM up to float rounding)."""
        out = self._predict_logits(batch) if not torch.is_grad_enabled() else None
        if out is None:
            out = self(self.inputs(batch), batch.lengths, batch.chars, batch.char_lengths)
        if self.regression:
            return {"index": batch.index, "value": out}
        return {"index": batch.index, "probabilities": out.softmax(-1)}
