"""Next-step prediction: embed -> unidirectional recurrent encoder -> dropout -> linear over the vocabulary.

Trained with truncated BPTT (``seqkit.data.language_modeling``): the recurrent state is carried from one
batch to the next and detached, reset at the start of every epoch and of every evaluation. With
``num_conditions`` it is a one-to-many generator: a class label embedded into the initial state (and,
with ``condition_every_step``, fed with every input) unrolls a sequence of that class.
"""

from __future__ import annotations

import math
import sys
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics.aggregation import MeanMetric

from seqkit.data.batch import IGNORE_INDEX
from seqkit.models.base import SeqkitModule
from seqkit.models.classifier import DEFAULT_OPTIMIZER
from seqkit.nn.decoding import Sampler
from seqkit.nn.encoder import State, detach_state
from seqkit.tasks.language_model.network import LanguageModelNetwork


class LanguageModel(LanguageModelNetwork, SeqkitModule):
    """Predict token t+1 from tokens <= t: ``LanguageModelNetwork`` plus truncated-BPTT training and its losses.

    vocab_size, level ("char" | "word"): from the data module. backbone: RecurrentEncoder arguments; it must
    be unidirectional (a language model may not read the future). tie_weights: the output projection
    shares the embedding matrix (Press & Wolf 2017), which needs embedding_dim == hidden_size.
    sample_length: characters/words sampled and printed at the end of each training epoch (0: none).
    num_conditions: > 0 makes the model conditional (class label -> initial state of every layer; with
    condition_every_step its embedding also joins every input). carry_state: truncated BPTT over one stream
    (True) or independent sequences, each from a fresh state (False: sentences of a conditional model).
    Logs ``{train,val,test}/loss`` (token-weighted mean, nats), ``/ppl`` and, at char level, ``/bpc``.
    """

    def __init__(
        self,
        vocab_size: int,
        level: str = "char",
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        backbone: Optional[Dict[str, Any]] = None,
        dropout: float = 0.0,
        tie_weights: bool = False,
        num_conditions: int = 0,
        condition_every_step: bool = False,
        carry_state: bool = True,
        sample_length: int = 0,
        sample_temperature: float = 0.8,
        optimizer: Optional[Dict[str, Any]] = None,
        scheduler: Optional[Dict[str, Any]] = None,
    ):
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        super().__init__(
            vocab_size,
            level=level,
            embedding_dim=embedding_dim,
            embedding_dropout=embedding_dropout,
            backbone=backbone,
            dropout=dropout,
            tie_weights=tie_weights,
            num_conditions=num_conditions,
            condition_every_step=condition_every_step,
            carry_state=carry_state,
            sample_length=sample_length,
            sample_temperature=sample_temperature,
        )
        self.save_hyperparameters()
        self._train_state: Optional[State] = None
        self._eval_state: Optional[State] = None
        self.losses = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})

    # ---- truncated BPTT ------------------------------------------------------------------------
    def _token_loss(self, logits: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """-> (sum of the token losses, number of real tokens)."""
        total = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum")
        return total, (labels != IGNORE_INDEX).sum()

    def _carried(self, state: Optional[State], batch_size: int) -> Optional[State]:
        """The previous batch's state cut from its graph (None when the batch shape changed, or when
        sequences are independent)."""
        if not self.hparams.carry_state:
            return None
        h = state[0] if isinstance(state, tuple) else state
        return detach_state(state) if h is not None and h.size(1) == batch_size else None

    def on_train_epoch_start(self) -> None:
        self._train_state = None

    def training_step(self, batch, batch_idx: int) -> Tensor:
        state = self._carried(self._train_state, len(batch))
        logits, state = self(batch.tokens, batch.lengths, state, condition=batch.condition)
        self._train_state = detach_state(state)
        total, count = self._token_loss(logits, batch.labels)
        loss = total / count.clamp(min=1)
        self.log_train_loss(loss, len(batch))
        return loss

    def _evaluate(self, batch, stage: str) -> None:
        state = self._carried(self._eval_state, len(batch))
        logits, state = self(batch.tokens, batch.lengths, state, condition=batch.condition)
        self._eval_state = state
        total, count = self._token_loss(logits, batch.labels)
        if count > 0:
            self.losses[stage].update(total / count, weight=count)  # token-weighted, not a mean of batch means

    def _log_loss(self, stage: str) -> None:
        loss = self.losses[stage].compute()
        self.losses[stage].reset()
        self.log(f"{stage}/loss", loss, prog_bar=True)
        self.log(f"{stage}/ppl", torch.exp(loss), prog_bar=True)
        if self.hparams.level == "char":
            self.log(f"{stage}/bpc", loss / math.log(2))

    def on_validation_epoch_start(self) -> None:
        self._eval_state = None

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_loss("val")

    def on_test_epoch_start(self) -> None:
        self._eval_state = None

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_loss("test")

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0) -> Dict[str, Tensor]:
        """Score whole lines, each from a fresh state: -> {"index": [B], "loss_sum": [B] nats}."""
        logits, _ = self(batch.tokens, batch.lengths, condition=batch.condition)
        losses = F.cross_entropy(logits.transpose(1, 2), batch.labels, ignore_index=IGNORE_INDEX, reduction="none")
        return {"index": batch.index, "loss_sum": losses.sum(1)}

    # ---- samples while training ----------------------------------------------------------------
    def on_train_epoch_end(self) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if not self.hparams.sample_length or datamodule is None or not hasattr(datamodule, "decode_ids"):
            return
        was_training = self.training
        self.eval()
        generator = torch.Generator().manual_seed(0)
        sampler = Sampler(self.hparams.sample_temperature, generator=generator, banned=datamodule.banned_indices())
        prompt = torch.tensor([[datamodule.start_index()]], device=self.device)
        conditions: Sequence[Optional[int]] = (
            range(self.hparams.num_conditions) if self.hparams.num_conditions else [None]
        )
        for c in conditions:
            condition = None if c is None else torch.tensor([c], device=self.device)
            eos = None if self.hparams.carry_state else datamodule.start_index()  # independent sentences end
            ids = self.generate(prompt, self.hparams.sample_length, sampler, condition, eos=eos)[0].tolist()
            label = "" if c is None else f", condition {datamodule.condition_name(c)}"
            print(
                f"\n[seqkit] sample after epoch {self.current_epoch}{label}:\n{datamodule.decode_ids(ids)}\n",
                file=sys.stderr,
                flush=True,
            )
        self.train(was_training)
