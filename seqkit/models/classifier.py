"""Many-to-one: embed -> recurrent encoder -> pool -> linear. Sentiment, topic, any sequence classification."""

from __future__ import annotations

from typing import Any, Dict, Optional

import torch
from torch import Tensor
from torchmetrics import MeanSquaredError, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from seqkit.models.base import SeqkitModule
from seqkit.tasks.classification.network import ClassifierNetwork

DEFAULT_OPTIMIZER = {"_target_": "torch.optim.Adam", "lr": 1e-3}


class SequenceClassifier(ClassifierNetwork, SeqkitModule):
    """Classify whole sequences (or, with ``objective="regression"``, predict one number a sequence).

    vocab_size, num_classes: from the data module. backbone: RecurrentEncoder keyword arguments
    (cell, hidden_size, num_layers, bidirectional, dropout, nonlinearity, impl). pooling: last | mean | max |
    attention. char_encoder: "none" | "cnn" | "lstm" word features from characters (needs the data module's
    ``char_features``; options in ``char``). adversarial: > 0 adds the loss on input features pushed this far
    (L2 norm per sentence) along the loss gradient (``seqkit.nn.adversarial_perturbation``; Miyato et al.
    2017), about twice the training cost. Logs ``{train,val,test}/loss`` and ``{val,test}/acc`` (accuracy)
    and ``/f1`` (macro-F1).

    objective="regression": the head predicts one real number, trained with mean squared error; logs
    ``{val,test}/mse``, ``/baseline_mse`` (always predicting ``target_mean``, the training targets' mean)
    and ``/mse_ratio`` (mse / baseline_mse: 1 = no better than the mean). input_size > 0: the inputs are
    real-valued ``batch.features [B, T, input_size]`` fed straight to the recurrent encoder (no word
    embedding), as in the adding problem.
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
        objective: str = "classification",
        input_size: int = 0,
        target_mean: float = 0.0,
        sparse_embeddings: bool = False,
    ):
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        super().__init__(
            vocab_size,
            num_classes,
            embedding_dim,
            embedding_dropout,
            word_dropout,
            backbone,
            pooling,
            dropout,
            freeze_embeddings,
            pretrained_words,
            pretrained_vectors,
            pretrained_rows,
            num_chars,
            char_encoder,
            char,
            objective,
            input_size,
            sparse_embeddings,
            adversarial,
            target_mean,
        )
        self.save_hyperparameters(ignore=["pretrained_vectors", "pretrained_rows"])
        if self.regression:
            metrics = MetricCollection({"mse": MeanSquaredError(), "baseline_mse": MeanSquaredError()})
        else:
            metrics = MetricCollection(
                {
                    "acc": MulticlassAccuracy(num_classes, average="micro"),
                    "f1": MulticlassF1Score(num_classes, average="macro"),
                }
            )
        self.val_metrics = metrics.clone(prefix="val/")
        self.test_metrics = metrics.clone(prefix="test/")

    def training_step(self, batch, batch_idx: int) -> Tensor:
        parts = self.loss(batch)
        loss = parts.pop("loss")
        self.log_train_loss(loss, len(batch), **parts)
        return loss

    def _evaluate(self, batch, metrics: MetricCollection, stage: str) -> None:
        logits = self(self.inputs(batch), batch.lengths, batch.chars, batch.char_lengths)
        self.log(f"{stage}/loss", self.criterion(logits, batch.labels), batch_size=len(batch))
        if self.regression:  # the ratio needs both sums, so compute and log at the epoch's end
            targets = batch.labels.to(logits.dtype)
            metrics["mse"].update(logits, targets)
            metrics["baseline_mse"].update(torch.full_like(targets, self.hparams.target_mean), targets)
            return
        metrics.update(logits, batch.labels)
        self.log_dict(metrics, prog_bar=stage == "val", batch_size=len(batch))

    def _log_regression(self, metrics: MetricCollection, stage: str) -> None:
        if not self.regression:
            return
        mse, baseline = metrics["mse"].compute(), metrics["baseline_mse"].compute()
        self.log(f"{stage}/mse", mse, prog_bar=stage == "val")
        self.log(f"{stage}/baseline_mse", baseline)
        self.log(f"{stage}/mse_ratio", mse / baseline, prog_bar=stage == "val")
        metrics.reset()

    def on_validation_epoch_end(self) -> None:
        self._log_regression(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        self._log_regression(self.test_metrics, "test")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.val_metrics, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, self.test_metrics, "test")
