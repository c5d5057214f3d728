"""The next-token network alone: embed -> unidirectional recurrent encoder -> dropout -> linear, in plain torch.nn.

``seqkit.models.LanguageModel`` is this network plus truncated-BPTT training and its losses; generation builds
just the network from a checkpoint's hyper-parameters (``from_hparams``) and its ``state_dict``, without
importing Lightning. Both share these attribute names (``embedding``, ``encoder``, ``dropout``, ``head``,
``condition_state``, ``condition_input``), so one state_dict fits both.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from seqkit.nn.decoding import ChooseFn, decode
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder, State


class LanguageModelNetwork(nn.Module):
    """Token ids [B, T] and lengths [B] -> next-token logits [B, T, V] and the final recurrent state.
    Arguments as ``LanguageModel``'s of the same names; ``num_conditions`` > 0 turns a class id into the initial
    state (and, with ``condition_every_step``, into part of every input). ``carry_state`` False: sequences are
    independent sentences, each ending with the start token (generation stops there)."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 128,
        embedding_dropout: float = 0.0,
        backbone: Optional[Dict[str, Any]] = None,
        dropout: float = 0.0,
        tie_weights: bool = False,
        num_conditions: int = 0,
        condition_every_step: bool = False,
        carry_state: bool = True,
    ):
        super().__init__()  # as LanguageModel's base, this runs LightningModule's __init__ too
        backbone = dict(backbone or {})
        if backbone.get("bidirectional"):
            raise ValueError("a language model predicts the next token from the past only, so its backbone must "
                             "be unidirectional: set backbone.bidirectional=false")
        self.num_conditions, self.carry_state = num_conditions, carry_state
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

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> "LanguageModelNetwork":
        """The network of a LanguageModel's saved hyper-parameters (training-only ones are left out)."""
        names = inspect.signature(LanguageModelNetwork.__init__).parameters
        return cls(**{k: v for k, v in hparams.items() if k in names})

    def initial_state(self, condition: Optional[Tensor]) -> Optional[State]:
        """``condition [B]`` class ids -> the encoder state that starts every sequence of that class (None: zeros)."""
        if condition is None or not self.num_conditions:
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
