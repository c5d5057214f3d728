"""Recurrent layers run without packed sequences, for export: the padding flag is an input, not a packing.

ONNX has no packed sequences and a traced graph cannot hold a Python loop of data-dependent length, so the
exported graph runs the fused layers over the whole padded batch and makes padding harmless with a mask:

- each layer and direction is its own single-layer fused module whose input gains one column, the padding
  flag ``pad [B, T, 1]`` (1.0 after a sequence's end). Its weights are the trained ones plus, in that column,
  a saturating push on the gates that keep the state: LSTM forget gate +BIG and input gate -BIG (so
  c_t = c_{t-1} exactly), GRU update gate +BIG (h_t = h_{t-1} exactly); sigmoid(+-1e4) is exactly 1 or 0 in
  float32, so real positions see exactly the numbers a packed run computes;
- the backward direction reads each sequence reversed within its own length (padding stays at the end);
- outputs are zeroed at padding and ``h_n`` is gathered at each sequence's last real position (for a plain
  RNN, and an LSTM's h, the state keeps changing over padding; its value there is never used).

So outputs at real positions and the final state equal ``RecurrentEncoder``'s (tests/test_export.py).
"""

from __future__ import annotations

import copy
from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from seqkit.nn.char_encoder import CharCNN, CharLSTM
from seqkit.nn.encoder import RecurrentEncoder, State
from seqkit.nn.padding import reverse_within_lengths

BIG = 1e4  # gate pre-activation push at padding: sigmoid saturates to exactly 0 / 1 in float32


def _gate_push(mode: str, hidden: int) -> Tensor:
    """The padding column of ``weight_ih`` [G * H, 1] for a module of ``mode`` (nn.RNNBase.mode)."""
    if mode == "LSTM":  # gates i, f, g, o
        return torch.cat([torch.full((hidden, 1), -BIG), torch.full((hidden, 1), BIG), torch.zeros(2 * hidden, 1)])
    if mode == "GRU":  # gates r, z, n
        return torch.cat([torch.zeros(hidden, 1), torch.full((hidden, 1), BIG), torch.zeros(hidden, 1)])
    return torch.zeros(hidden, 1)  # RNN_TANH / RNN_RELU: nothing keeps the state; h_n is gathered instead


class MaskedRecurrent(nn.Module):
    """An ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (batch_first, any depth and direction) run on padded batches
    without packing. ``forward(x [B, T, I], lengths [B], state)`` -> ``(outputs [B, T, H * D], state)`` as
    ``RecurrentEncoder.forward`` returns them (state ``[L * D, B, H]``, a pair for LSTM). Copies the weights:
    an export is a snapshot."""

    def __init__(self, rnn: nn.RNNBase):
        super().__init__()
        if not rnn.batch_first:
            raise ValueError("MaskedRecurrent expects a batch_first recurrent module")
        self.mode, self.lstm = rnn.mode, rnn.mode == "LSTM"
        self.hidden_size, self.num_layers = rnn.hidden_size, rnn.num_layers
        self.num_directions = 2 if rnn.bidirectional else 1
        extra = {"nonlinearity": "relu" if rnn.mode == "RNN_RELU" else "tanh"} if rnn.mode.startswith("RNN") else {}
        kind = type(rnn)
        parts: List[nn.Module] = []
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                w_ih = getattr(rnn, "weight_ih" + suffix).detach()
                part = kind(w_ih.size(1) + 1, self.hidden_size, batch_first=True, bias=rnn.bias, **extra)
                with torch.no_grad():
                    part.weight_ih_l0.copy_(torch.cat([w_ih, _gate_push(rnn.mode, self.hidden_size).to(w_ih)], 1))
                    part.weight_hh_l0.copy_(getattr(rnn, "weight_hh" + suffix))
                    if rnn.bias:
                        part.bias_ih_l0.copy_(getattr(rnn, "bias_ih" + suffix))
                        part.bias_hh_l0.copy_(getattr(rnn, "bias_hh" + suffix))
                parts.append(part)
        self.parts = nn.ModuleList(parts)

    def forward(self, x: Tensor, lengths: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        batch, steps = x.size(0), x.size(1)
        positions = torch.arange(steps, device=x.device)[None, :]
        lengths = lengths.to(x.device)
        mask = positions < lengths[:, None]  # [B, T]
        pad = (~mask).to(x.dtype)[..., None]  # [B, T, 1]
        last = (lengths - 1).clamp(min=0)[:, None, None].expand(batch, 1, self.hidden_size)
        zeros = x.new_zeros(self.num_layers * self.num_directions, batch, self.hidden_size)
        if state is None:
            state = (zeros, zeros) if self.lstm else zeros
        h0, c0 = state if self.lstm else (state, None)
        layer_input, final_h, final_c = x, [], []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                seq = layer_input if direction == 0 else reverse_within_lengths(layer_input, lengths)
                seq = torch.cat([seq, pad], dim=-1)
                if self.lstm:
                    out, (_, c_n) = self.parts[k](seq, (h0[k : k + 1].contiguous(), c0[k : k + 1].contiguous()))
                    final_c.append(c_n[0])
                else:
                    out, _ = self.parts[k](seq, h0[k : k + 1].contiguous())
                final_h.append(out.gather(1, last)[:, 0])
                out = out * mask[..., None].to(out.dtype)
                outputs.append(out if direction == 0 else reverse_within_lengths(out, lengths))
            layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        h_n = torch.stack(final_h)
        return layer_input, ((h_n, torch.stack(final_c)) if self.lstm else h_n)


class MaskedEncoder(nn.Module):
    """A ``RecurrentEncoder`` whose ``forward`` runs through ``MaskedRecurrent``; ``step``, ``rnn`` (one full
    step of the fused layers) and the sizes are the original's, so model code runs on it unchanged."""

    def __init__(self, encoder: RecurrentEncoder):
        super().__init__()
        self.original = encoder
        self.masked = MaskedRecurrent(encoder.rnn)
        self.rnn = encoder.rnn
        for name in ("cell", "impl", "input_size", "hidden_size", "num_layers", "bidirectional", "num_directions"):
            setattr(self, name, getattr(encoder, name))

    @property
    def output_size(self) -> int:
        return self.hidden_size * self.num_directions

    def forward(self, x: Tensor, lengths: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        return self.masked(x, lengths, state)

    def outputs(self, x: Tensor, lengths: Tensor) -> Tensor:
        return self.masked(x, lengths)[0]

    def step(self, x_t: Tensor, state: Optional[State] = None) -> Tuple[Tensor, State]:
        return self.original.step(x_t, state)

    def initial_state(self, batch: int, device=None, dtype=None) -> State:
        return self.original.initial_state(batch, device, dtype)


class MaskedCharCNN(nn.Module):
    """``CharCNN`` over every token slot ``[B * T, C]`` (no trimming to the real words, whose count depends on
    the data): the same vector for each real word, zeros for padded tokens."""

    def __init__(self, cnn: CharCNN):
        super().__init__()
        self.embedding, self.conv, self.output_dim = cnn.embedding, cnn.conv, cnn.output_dim

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        batch, tokens, width = chars.size(0), chars.size(1), chars.size(2)
        words = chars.reshape(-1, width)
        lengths = char_lengths.reshape(-1, 1)
        x = self.conv(self.embedding(words).transpose(1, 2))  # [N, F, C]
        padded = torch.arange(width, device=chars.device)[None, :] >= lengths  # [N, C]
        best = x.masked_fill(padded[:, None, :], float("-inf")).max(dim=2).values
        best = torch.where(lengths > 0, best, torch.zeros_like(best))
        return best.view(batch, tokens, -1)


class MaskedCharLSTM(nn.Module):
    """``CharLSTM`` through ``MaskedRecurrent`` over every token slot: [final fwd; final bwd] of each real
    word, zeros for padded tokens."""

    def __init__(self, char_lstm: CharLSTM):
        super().__init__()
        self.embedding, self.output_dim = char_lstm.embedding, char_lstm.output_dim
        self.lstm = MaskedRecurrent(char_lstm.lstm)

    def forward(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        batch, tokens = chars.size(0), chars.size(1)
        words = chars.reshape(batch * tokens, chars.size(2))
        lengths = char_lengths.reshape(-1)
        _, (h_n, _) = self.lstm(self.embedding(words), lengths.clamp(min=1))
        out = torch.cat([h_n[0], h_n[1]], dim=-1)
        out = torch.where(lengths[:, None] > 0, out, torch.zeros_like(out))
        return out.view(batch, tokens, -1)


def exportable_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` (in eval mode) with every packing part swapped for its masked twin."""
    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, RecurrentEncoder):
                setattr(parent, name, MaskedEncoder(child))
            elif isinstance(child, CharCNN):
                setattr(parent, name, MaskedCharCNN(child))
            elif isinstance(child, CharLSTM):
                setattr(parent, name, MaskedCharLSTM(child))
    for parameter in model.parameters():  # a graph of constants: its outputs carry no autograd history
        parameter.requires_grad_(False)
    if hasattr(model, "_jit_is_scripting"):  # a LightningModule: let the tracer look at it without a Trainer
        model._jit_is_scripting = True
    return model.eval()
