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
from seqkit.nn import RecurrentEncoder, WordEmbedding
from seqkit.nn.decoding import ChooseFn, Sampler, decode
from seqkit.nn.encoder import State, detach_state


class LanguageModel(SeqkitModule):
    """Predict token t+1 from tokens <= t.

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
        super().__init__()
        if optimizer is None:
            optimizer = dict(DEFAULT_OPTIMIZER)
        backbone = dict(backbone or {})
        if backbone.get("bidirectional"):
            raise ValueError("a language model predicts the next token from the past only, so its backbone must "
                             "be unidirectional: set backbone.bidirectional=false")
        self.save_hyperparameters()
        self.embedding = WordEmbedding(vocab_size, embedding_dim, embedding_dropout)
        self.condition_dim = embedding_dim if (num_conditions and condition_every_step) else 0
        self.encoder = RecurrentEncoder(embedding_dim + self.condition_dim, **backbone)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.hidden_size, vocab_size)
        if tie_weights:
            if embedding_dim != self.encoder.hidden_size:
                raise ValueError(f"model.tie_weights=true needs the embedding size to equal the hidden size, got "
                                 f"{embedding_dim} and {self.encoder.hidden_size}: set model.embedding_dim="
                                 f"{self.encoder.hidden_size} (or embedding.dim) or backbone.hidden_size={embedding_dim}")
            self.head.weight = self.embedding.embedding.weight
        if num_conditions:
            copies = 2 if self.encoder.cell == "lstm" else 1  # h0 (and c0) of every layer
            self.condition_state = nn.Embedding(num_conditions, copies * self.encoder.num_layers * self.encoder.hidden_size)
            if condition_every_step:
                self.condition_input = nn.Embedding(num_conditions, embedding_dim)
        self._train_state: Optional[State] = None
        self._eval_state: Optional[State] = None
        self.losses = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})

    # ---- the network ---------------------------------------------------------------------------
    def initial_state(self, condition: Optional[Tensor]) -> Optional[State]:
        """``condition [B]`` class ids -> the encoder state that starts every sequence of that class (None: zeros)."""
        if condition is None or not self.hparams.num_conditions:
            return None
        layers, hidden = self.encoder.num_layers, self.encoder.hidden_size
        flat = torch.tanh(self.condition_state(condition))  # [B, copies * layers * H]
        parts = flat.view(condition.size(0), -1, layers, hidden).permute(1, 2, 0, 3).contiguous()  # [copies, L, B, H]
        return (parts[0], parts[1]) if self.encoder.cell == "lstm" else parts[0]

    def _inputs(self, tokens: Tensor, condition: Optional[Tensor]) -> Tensor:
        """tokens [B, T] (or [B]) -> encoder inputs [B, T, D] (or [B, D])."""
        x = self.embedding(tokens)
        if self.condition_dim:
            c = self.condition_input(condition)
            x = torch.cat([x, c[:, None].expand(-1, x.size(1), -1) if x.dim() == 3 else c], dim=-1)
        return x

    def forward(self, tokens: Tensor, lengths: Tensor, state: Optional[State] = None,
                condition: Optional[Tensor] = None) -> Tuple[Tensor, State]:
        """tokens [B, T], lengths [B], state (None: zeros, or the condition's) -> (logits [B, T, V], final state)."""
        if state is None:
            state = self.initial_state(condition)
        outputs, state = self.encoder(self._inputs(tokens, condition), lengths, state)
        return self.head(self.dropout(outputs)), state

    def step(self, ids: Tensor, state: Optional[State], condition: Optional[Tensor] = None) -> Tuple[Tensor, State]:
        """One token per sequence: ids [B] -> (logits [B, V], new state); no recomputation of the prefix."""
        if state is None:
            state = self.initial_state(condition)
        y, state = self.encoder.step(self._inputs(ids, condition), state)
        return self.head(self.dropout(y)), state

    def prefill(self, prompt: Tensor, condition: Optional[Tensor] = None) -> Tuple[Tensor, State]:
        """Read a prompt once: prompt [B, T] -> (next-token logits [B, V], state after it)."""
        lengths = torch.full((prompt.size(0),), prompt.size(1), dtype=torch.long)
        logits, state = self(prompt, lengths, condition=condition)
        return logits[:, -1], state

    @torch.no_grad()
    def generate(self, prompt: Tensor, max_new_tokens: int, choose: ChooseFn, condition: Optional[Tensor] = None,
                 on_token=None, eos: Optional[int] = None) -> Tensor:
        """Continue ``prompt [B, T]`` by ``max_new_tokens`` tokens picked by ``choose`` (seqkit.nn.decoding),
        stopping early at ``eos`` -> ids [B, N]."""
        logits, state = self.prefill(prompt, condition)
        step = (lambda ids, s: self.step(ids, s, condition)) if condition is not None else self.step
        return decode(step, state, logits, max_new_tokens, choose, eos=eos, on_token=on_token)

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
        conditions: Sequence[Optional[int]] = range(self.hparams.num_conditions) if self.hparams.num_conditions else [None]
        for c in conditions:
            condition = None if c is None else torch.tensor([c], device=self.device)
            eos = None if self.hparams.carry_state else datamodule.start_index()  # independent sentences end
            ids = self.generate(prompt, self.hparams.sample_length, sampler, condition, eos=eos)[0].tolist()
            label = "" if c is None else f", condition {datamodule.condition_name(c)}"
            print(f"\n[seqkit] sample after epoch {self.current_epoch}{label}:\n{datamodule.decode_ids(ids)}\n",
                  file=sys.stderr, flush=True)
        self.train(was_training)
