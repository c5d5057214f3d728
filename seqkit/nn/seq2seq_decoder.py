"""The decoder half of an encoder-decoder: a recurrent cell stepped one target token at a time, attending
over the encoder outputs, and the bridge that turns the encoder's final states into its initial state.

The decoder state is a tuple whose tensors all keep the batch in dimension 1 (``[layers, B, H]`` as
nn.LSTM does, the memory as ``[S, B, H]``), so ``seqkit.nn.decoding.reorder_state`` can follow beam
hypotheses through it without knowing what is inside.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from seqkit.nn.attention import Attention
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder, State

# (rnn state, input feed [1, B, H] | None, memory [S, B, Hk] | None, projected keys [S, B, A] | None, mask [S, B] | None)
DecoderState = Tuple[State, Optional[Tensor], Optional[Tensor], Optional[Tensor], Optional[Tensor]]


class Bridge(nn.Module):
    """The encoder's final state -> the decoder's initial state, so the decoder starts from the source.

    Both directions of a layer are concatenated and mapped by a linear layer (tanh for h, as the cell's own
    output range; c is linear). Encoder layer l feeds decoder layer l when the depths match, otherwise the top
    encoder layer starts every decoder layer. An LSTM decoder after a GRU/RNN encoder starts with c = 0.

    Args:
        encoder_cell: the encoder's cell ("rnn", "lstm", "gru").
        encoder_layers: L_e.
        directions: the encoder's directions D.
        encoder_hidden: the encoder's hidden size H_e.
        decoder_cell: the decoder's cell.
        decoder_layers: L_d.
        decoder_hidden: the decoder's hidden size H_d.

    Inputs: state, the encoder's final state (``h_n``, or ``(h_n, c_n)`` for an LSTM).
    Outputs: the decoder's initial state, of the same kind for the decoder's cell.

    Shape:
        - state: each tensor ``[L_e * D, B, H_e]``; output: each tensor ``[L_d, B, H_d]``
    """

    def __init__(
        self,
        encoder_cell: str,
        encoder_layers: int,
        directions: int,
        encoder_hidden: int,
        decoder_cell: str,
        decoder_layers: int,
        decoder_hidden: int,
    ):
        super().__init__()
        self.encoder_layers, self.directions, self.decoder_layers = encoder_layers, directions, decoder_layers
        self.decoder_cell = decoder_cell
        self.h = nn.Linear(directions * encoder_hidden, decoder_hidden)
        self.c = (
            nn.Linear(directions * encoder_hidden, decoder_hidden) if encoder_cell == decoder_cell == "lstm" else None
        )

    def _layers(self, x: Tensor) -> Tensor:
        """[L_e * D, B, H] -> [L_d, B, D * H]."""
        layers = x.view(self.encoder_layers, self.directions, x.size(1), x.size(2))
        layers = torch.cat(list(layers.unbind(1)), dim=-1)  # [L_e, B, D * H]
        if self.encoder_layers != self.decoder_layers:
            layers = layers[-1:].expand(self.decoder_layers, -1, -1)
        return layers

    def forward(self, state: State) -> State:
        h_enc = state[0] if isinstance(state, tuple) else state
        h = torch.tanh(self.h(self._layers(h_enc))).contiguous()
        if self.decoder_cell != "lstm":
            return h
        c = self.c(self._layers(state[1])).contiguous() if self.c is not None else torch.zeros_like(h)
        return h, c


class Seq2SeqDecoder(nn.Module):
    """The decoder of an encoder-decoder: embed the previous target token, step the recurrent cell, attend over
    the encoder outputs, predict the next token.

    With attention (Luong et al. 2015) the attentional state ~h_t = tanh(W [c_t; h_t]) feeds the output layer;
    with input feeding ~h_{t-1} is also fed with the next input, so the cell knows what it attended to. Without
    attention the source reaches the decoder only through the bridged initial state. ``start`` makes the state
    from the encoder; ``step`` is the ``seqkit.nn.decoding`` step function (greedy, sampling, beam search).

    Args:
        vocab_size: target vocabulary V.
        embedding_dim: target embedding size.
        hidden_size: the cell's hidden size H.
        memory_size: the encoder output size Hk (hidden * directions).
        cell: "rnn", "lstm" or "gru". Default: "lstm"
        num_layers: decoder layers. Default: 1
        dropout: between layers and before the output layer. Default: 0.0
        embedding_dropout: on the target embeddings. Default: 0.0
        attention: "none", "additive", "dot" or "general" (``Attention``). Default: "additive"
        input_feeding: feed ~h_{t-1} with each input (steps token by token; ignored without attention).
            Default: True
        tie_embeddings: the output layer shares the target embedding matrix (a projection to the embedding size
            is added when the hidden size differs). Default: False

    Inputs: inputs, state, teacher_forcing
        - inputs: <bos> + target, padded (teacher forcing).
        - state: ``start(memory, mask, bridged state)``.
        - teacher_forcing: probability of feeding the reference token while training. Default: 1.0

    Outputs: logits, weights
        - logits: next-token scores at every position.
        - weights: the attention over the source at every position, or None without attention.

    Shape:
        - inputs: ``[B, T]`` long; memory: ``[B, S, Hk]``; mask: ``[B, S]``
        - logits: ``[B, T, V]``; weights: ``[B, T, S]``; ``step``: ids ``[B]`` -> logits ``[B, V]``
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        hidden_size: int,
        memory_size: int,
        cell: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        attention: str = "additive",
        input_feeding: bool = True,
        tie_embeddings: bool = False,
    ):
        super().__init__()
        self.embedding = WordEmbedding(vocab_size, embedding_dim, embedding_dropout)
        self.has_attention = attention != "none"
        self.input_feeding = input_feeding and self.has_attention
        self.hidden_size = hidden_size
        self.rnn = RecurrentEncoder(
            embedding_dim + (hidden_size if self.input_feeding else 0), hidden_size, cell, num_layers, dropout=dropout
        )
        if self.has_attention:
            self.attention = Attention(hidden_size, memory_size, attention)
            self.combine = nn.Linear(hidden_size + memory_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        out_dim = embedding_dim if tie_embeddings else hidden_size
        self.pre_output = nn.Linear(hidden_size, out_dim) if out_dim != hidden_size else nn.Identity()
        self.output = nn.Linear(out_dim, vocab_size)
        if tie_embeddings:
            self.output.weight = self.embedding.embedding.weight

    def start(self, memory: Tensor, mask: Tensor, rnn_state: Optional[State]) -> DecoderState:
        """Encoder outputs ``memory [B, S, Hk]``, ``mask [B, S]`` and the bridged state -> the first decoder state."""
        batch = memory.size(0)
        if rnn_state is None:
            rnn_state = self.rnn.initial_state(batch, memory.device, memory.dtype)
        if not self.has_attention:
            return rnn_state, None, None, None, None
        feed = memory.new_zeros(1, batch, self.hidden_size) if self.input_feeding else None
        projected = self.attention.project_keys(memory)
        return rnn_state, feed, memory.transpose(0, 1), projected.transpose(0, 1), mask.t()

    def step_with_attention(self, ids: Tensor, state: DecoderState) -> Tuple[Tensor, DecoderState, Optional[Tensor]]:
        """ids [B] -> (logits [B, V], new state, attention weights [B, S] or None)."""
        rnn_state, feed, memory, projected, mask = state
        x = self.embedding(ids)
        if feed is not None:
            x = torch.cat([x, feed[0]], dim=-1)
        h, rnn_state = self.rnn.step(x, rnn_state)
        h, weights = self._attend(h, state)
        if feed is not None:
            feed = h[None]
        return self._logits(h), (rnn_state, feed, memory, projected, mask), weights

    def _attend(self, h: Tensor, state: DecoderState) -> Tuple[Tensor, Optional[Tensor]]:
        """Cell output h [B, (T,) H] -> (attentional state [B, (T,) H], weights [B, (T,) S] or None)."""
        if not self.has_attention:
            return h, None
        _, _, memory, projected, mask = state
        context, weights = self.attention(h, memory.transpose(0, 1), mask.t(), projected.transpose(0, 1))
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1))), weights

    def _logits(self, h: Tensor) -> Tensor:
        return self.output(self.pre_output(self.dropout(h)))

    def step(self, ids: Tensor, state: DecoderState) -> Tuple[Tensor, DecoderState]:
        """The ``seqkit.nn.decoding`` step function: ids [B] -> (logits [B, V], new state)."""
        logits, state, _ = self.step_with_attention(ids, state)
        return logits, state

    def forward(
        self, inputs: Tensor, state: DecoderState, teacher_forcing: float = 1.0
    ) -> Tuple[Tensor, Optional[Tensor]]:
        """Unroll over ``inputs [B, T]`` (BOS + target, padded) -> (logits [B, T, V], weights [B, T, S] or None).

        teacher_forcing < 1: while training, each sequence feeds back its own previous prediction instead of
        the reference token with probability 1 - teacher_forcing (scheduled sampling, Bengio et al. 2015).
        Positions after a sequence's end compute garbage that the loss ignores.
        Without input feeding and with every reference token fed, the cell runs over the whole target at once
        (fused nn.LSTM) and attention is one batched product: the same numbers as stepping, much faster."""
        if not self.input_feeding and not (self.training and teacher_forcing < 1.0):
            lengths = torch.full((inputs.size(0),), inputs.size(1), dtype=torch.long)
            outputs, _ = self.rnn(self.embedding(inputs), lengths, state[0])
            h, weights = self._attend(outputs, state)
            return self._logits(h), weights
        logits, weights = [], []
        ids = inputs[:, 0]
        for t in range(inputs.size(1)):
            if t > 0:
                ids = inputs[:, t]
                if self.training and teacher_forcing < 1.0:
                    own = torch.rand(ids.shape, device=ids.device) >= teacher_forcing
                    ids = torch.where(own, logits[-1].argmax(-1), ids)
            step_logits, state, w = self.step_with_attention(ids, state)
            logits.append(step_logits)
            weights.append(w)
        return torch.stack(logits, 1), (torch.stack(weights, 1) if self.has_attention else None)
