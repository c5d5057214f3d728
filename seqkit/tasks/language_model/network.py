"""The next-step network: embed -> unidirectional recurrent encoder -> dropout -> linear over the vocabulary, in
plain torch.nn, with its training objective (``loss``, truncated BPTT with a carried state), what its metrics need
(``evaluate``), line scores (``predict``), one-step decoding (``init_state``/``step``) and generation."""

from __future__ import annotations

import inspect
import sys
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.data.batch import IGNORE_INDEX
from seqkit.nn.decoding import ChooseFn, Sampler, decode
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder, State, detach_state

STATE = "state"  # the key under which loss/evaluate return the state to carry into the next batch (TaskModule)


class LanguageModelNetwork(nn.Module):
    """The next-step network: predict token t+1 from tokens <= t; with ``num_conditions`` a one-to-many generator
    from a class id.

    Embed -> unidirectional RecurrentEncoder -> dropout -> linear over the vocabulary. The encoder only reads the
    past, so the same network scores text (``forward``), continues it one token at a time (``step``, with no
    recomputation of the prefix) and trains on one long stream by truncated BPTT (``carry_state``).

    Args:
        vocab_size: vocabulary V, from the codec.
        level: "char" or "word", from the codec; it only chooses the metrics (bits per character). Default: "char"
        embedding_dim: token embedding size. Default: 128
        embedding_dropout: on the token embeddings. Default: 0.0
        backbone: ``RecurrentEncoder`` keyword arguments; must be unidirectional. Default: None
        dropout: before the head. Default: 0.0
        tie_weights: the head shares the embedding matrix (Press & Wolf 2017; needs embedding_dim ==
            hidden_size). Default: False
        num_conditions: > 0: a class id becomes the initial state of every layer. Default: 0
        condition_every_step: with ``num_conditions``, the class's embedding is also part of every input.
            Default: False
        carry_state: True: truncated BPTT over one stream, the state carried from batch to batch (detached);
            False: independent sentences, each from a fresh state, ending with the start token. Default: True
        sample_length: tokens sampled and printed (stderr) after each training epoch (0: none). Default: 0
        sample_temperature: the temperature of those samples. Default: 0.8

    Inputs: tokens, lengths, state, condition
        - tokens: token ids.
        - lengths: each sequence's true length.
        - state: the state to start from. Default: None (zeros, or the condition's)
        - condition: class ids, with ``num_conditions``. Default: None

    Outputs: logits, state
        - logits: next-token scores at every position.
        - state: the final state (``h_n``, or ``(h_n, c_n)`` for an LSTM), to carry on from.

    Shape:
        - tokens: ``[B, T]`` long; lengths: ``[B]``; condition: ``[B]`` long
        - logits: ``[B, T, V]``; state: each tensor ``[L, B, H]``
        - ``step``: ids ``[B]`` -> logits ``[B, V]``; ``generate``: prompt ``[B, T]`` -> ids ``[B, N]``

    Methods (the shape's protocol, each on a Batch; ``state`` passed and returned when ``carries_state``):
        - loss: ``{"loss"}``, the mean token cross-entropy (nats), and ``"state"``
        - evaluate: ``{"loss_sum", "count"}`` (summed token loss, real tokens), and ``"state"``
        - predict: ``{"index": [B], "loss_sum": [B]}``, each line scored from a fresh state
        - init_state / step / generate: one-step decoding and generation (``seqkit.nn.decoding``)
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
    ):
        super().__init__()  # as LanguageModel's base, this runs LightningModule's __init__ too
        backbone = dict(backbone or {})
        if backbone.get("bidirectional"):
            raise ValueError(
                "a language model predicts the next token from the past only, so its backbone must "
                "be unidirectional: set backbone.bidirectional=false"
            )
        self.vocab_size, self.level = vocab_size, level  # sizes (export) and the metrics' unit
        self.num_conditions, self.carry_state = num_conditions, carry_state
        self.sample_length, self.sample_temperature = sample_length, sample_temperature
        self.embedding = WordEmbedding(vocab_size, embedding_dim, embedding_dropout)
        self.condition_dim = embedding_dim if (num_conditions and condition_every_step) else 0
        self.encoder = RecurrentEncoder(embedding_dim + self.condition_dim, **backbone)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.hidden_size, vocab_size)
        if tie_weights:
            if embedding_dim != self.encoder.hidden_size:
                raise ValueError(
                    f"model.tie_weights=true needs the embedding size to equal the hidden size, got "
                    f"{embedding_dim} and {self.encoder.hidden_size}: set model.embedding_dim="
                    f"{self.encoder.hidden_size} (or embedding.dim) or backbone.hidden_size={embedding_dim}"
                )
            self.head.weight = self.embedding.embedding.weight
        if num_conditions:
            copies = 2 if self.encoder.cell == "lstm" else 1  # h0 (and c0) of every layer
            self.condition_state = nn.Embedding(
                num_conditions, copies * self.encoder.num_layers * self.encoder.hidden_size
            )
            if condition_every_step:
                self.condition_input = nn.Embedding(num_conditions, embedding_dim)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> "LanguageModelNetwork":
        """The network of saved hyper-parameters (keys it does not take, such as the optimiser, are left out)."""
        names = inspect.signature(LanguageModelNetwork.__init__).parameters
        return cls(**{k: v for k, v in hparams.items() if k in names and k != "self"})

    # ---- the recurrence ----------------------------------------------------------------------------
    def initial_state(self, condition: Optional[Tensor]) -> Optional[State]:
        """``condition [B]`` class ids -> the encoder state that starts every sequence of that class (None: zeros)."""
        if condition is None or not self.num_conditions:
            return None
        layers, hidden = self.encoder.num_layers, self.encoder.hidden_size
        flat = torch.tanh(self.condition_state(condition))  # [B, copies * layers * H]
        parts = flat.view(condition.size(0), -1, layers, hidden).permute(1, 2, 0, 3).contiguous()  # [copies, L, B, H]
        return (parts[0], parts[1]) if self.encoder.cell == "lstm" else parts[0]

    init_state = initial_state

    def _inputs(self, tokens: Tensor, condition: Optional[Tensor]) -> Tensor:
        """tokens [B, T] (or [B]) -> encoder inputs [B, T, D] (or [B, D])."""
        x = self.embedding(tokens)
        if self.condition_dim:
            c = self.condition_input(condition)
            x = torch.cat([x, c[:, None].expand(-1, x.size(1), -1) if x.dim() == 3 else c], dim=-1)
        return x

    def forward(
        self, tokens: Tensor, lengths: Tensor, state: Optional[State] = None, condition: Optional[Tensor] = None
    ) -> Tuple[Tensor, State]:
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
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        choose: ChooseFn,
        condition: Optional[Tensor] = None,
        on_token=None,
        eos: Optional[int] = None,
    ) -> Tensor:
        """Continue ``prompt [B, T]`` by ``max_new_tokens`` tokens picked by ``choose`` (seqkit.nn.decoding),
        stopping early at ``eos`` -> ids [B, N]."""
        logits, state = self.prefill(prompt, condition)
        step = (lambda ids, s: self.step(ids, s, condition)) if condition is not None else self.step
        return decode(step, state, logits, max_new_tokens, choose, eos=eos, on_token=on_token)

    # ---- training and evaluation (truncated BPTT) -------------------------------------------------
    @property
    def carries_state(self) -> bool:
        """True: ``loss``/``evaluate`` take the previous batch's state and return theirs under ``STATE``."""
        return bool(self.carry_state)

    def _carry_over(self, state: Optional[State], batch_size: int) -> Optional[State]:
        """The previous batch's state cut from its graph (None when the batch shape changed, or when
        sequences are independent)."""
        if not self.carry_state or state is None:
            return None
        h = state[0] if isinstance(state, tuple) else state
        return detach_state(state) if h.size(1) == batch_size else None

    def _scored(self, batch, state: Optional[State]) -> Tuple[Tensor, Tensor, State]:
        """-> (sum of the token losses, number of real tokens, final state)."""
        logits, state = self(
            batch.tokens, batch.lengths, self._carry_over(state, len(batch)), condition=batch.condition
        )
        total = F.cross_entropy(
            logits.flatten(0, 1), batch.labels.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        return total, (batch.labels != IGNORE_INDEX).sum(), state

    def loss(self, batch, state: Optional[State] = None) -> Dict[str, Any]:
        """{"loss": mean token loss (nats)} and, when ``carries_state``, the detached final state under ``STATE``."""
        total, count, state = self._scored(batch, state)
        out: Dict[str, Any] = {"loss": total / count.clamp(min=1)}
        if self.carries_state:
            out[STATE] = detach_state(state)
        return out

    def evaluate(self, batch, state: Optional[State] = None) -> Dict[str, Any]:
        """{"loss_sum": summed token loss, "count": real tokens} (and ``STATE`` when ``carries_state``)."""
        total, count, state = self._scored(batch, state)
        out: Dict[str, Any] = {"loss_sum": total.detach(), "count": count}
        if self.carries_state:
            out[STATE] = detach_state(state)
        return out

    def predict(self, batch) -> Dict[str, Tensor]:
        """Score whole lines, each from a fresh state: -> {"index": [B], "loss_sum": [B] nats}."""
        logits, _ = self(batch.tokens, batch.lengths, condition=batch.condition)
        losses = F.cross_entropy(logits.transpose(1, 2), batch.labels, ignore_index=IGNORE_INDEX, reduction="none")
        return {"index": batch.index, "loss_sum": losses.sum(1)}

    # ---- samples while training (TaskModule calls this after every training epoch) -----------------
    def after_train_epoch(self, codec: Any, epoch: int) -> None:
        """Print ``sample_length`` sampled tokens (one sample per class of a conditional model) to stderr."""
        if not self.sample_length or codec is None or not hasattr(codec, "decode_ids"):
            return
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        generator = torch.Generator().manual_seed(0)
        sampler = Sampler(self.sample_temperature, generator=generator, banned=codec.banned_indices())
        prompt = torch.tensor([[codec.start_index()]], device=device)
        conditions: Sequence[Optional[int]] = range(self.num_conditions) if self.num_conditions else [None]
        for c in conditions:
            condition = None if c is None else torch.tensor([c], device=device)
            eos = None if self.carry_state else codec.start_index()  # independent sentences end
            ids = self.generate(prompt, self.sample_length, sampler, condition, eos=eos)[0].tolist()
            label = "" if c is None else f", condition {codec.condition_name(c)}"
            print(
                f"\n[seqkit] sample after epoch {epoch}{label}:\n{codec.decode_ids(ids)}\n", file=sys.stderr, flush=True
            )
        self.train(was_training)
