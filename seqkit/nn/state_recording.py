"""Keep every hidden state h_t of a RecurrentEncoder pass so that ∂L/∂h_t can be read after backward.

A fused nn.LSTM hides its hidden states inside one kernel: the output tensor it returns receives only the
gradient that flows into it from above, not the part that flows back through h_{t+1}. The *total*
derivative ∂L/∂h_t (the quantity that vanishes or explodes with distance) needs h_t as a tensor that the
next step reads. So on the steps where it is wanted, ``forward_recording`` runs the encoder as the explicit
cell loop over the *same parameters* (``encoder.cell_for``), layer by layer and direction by direction, and
calls ``retain_grad`` on every h_t. For an LSTM, h_t is the hidden state (not the cell state c_t), and
∂L/∂h_t is taken with c_t held fixed, as in the BPTT equations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor, nn


@dataclass
class RecordedStates:
    """The hidden states of one layer and direction of one forward pass.

    states: T tensors ``[B, H]``, the state after processing step s (for the backward direction, step s
    reads position ``length - 1 - s`` of each sequence); each keeps its ``.grad`` after backward.
    mask: ``[B, T]`` True at real positions. reverse_index: ``[B, T]`` gather index that maps processing
    steps back to positions (backward direction), or None.
    """

    layer: int
    direction: int
    states: List[Tensor]
    mask: Tensor
    reverse_index: Optional[Tensor]

    def gradient_norms(self) -> Tensor:
        """``[T']`` mean over the batch's real positions of ‖∂L/∂h_t‖₂, indexed by position t in the
        sequence (T' = the longest length). Padded positions contribute nothing."""
        grads = torch.stack([s.grad if s.grad is not None else torch.zeros_like(s) for s in self.states], dim=1)
        if self.reverse_index is not None:
            grads = _reverse(grads, self.reverse_index)
        norms = grads.detach().float().norm(dim=-1) * self.mask  # [B, T]
        real = self.mask.sum(0)
        longest = int((real > 0).sum())
        return (norms.sum(0) / real.clamp(min=1))[:longest].cpu()


def forward_recording(encoder: nn.Module, x: Tensor, lengths: Tensor, state=None):
    """Same inputs and outputs as ``RecurrentEncoder.forward``; also sets ``encoder.recorded`` to one
    RecordedStates per layer and direction, and turns ``encoder.record_states`` off (one pass is recorded)."""
    encoder.record_states = False
    batch, steps, _ = x.shape
    lengths = lengths.to(x.device)
    mask = torch.arange(steps, device=x.device)[None, :] < lengths[:, None]  # [B, T]
    positions = torch.arange(steps, device=x.device)[None, :].expand(batch, steps)
    reverse_index = torch.where(mask, lengths[:, None] - 1 - positions, positions)
    if state is None:
        zeros = x.new_zeros(encoder.num_layers * encoder.num_directions, batch, encoder.hidden_size)
        state = (zeros, zeros) if encoder.cell == "lstm" else zeros
    h0, c0 = state if encoder.cell == "lstm" else (state, None)
    layer_input, final_h, final_c, records = x, [], [], []
    for layer in range(encoder.num_layers):
        outputs = []
        for direction in range(encoder.num_directions):
            k = layer * encoder.num_directions + direction
            seq = layer_input if direction == 0 else _reverse(layer_input, reverse_index)
            cell = encoder.cell_for(layer, direction)
            h, c = h0[k], None if c0 is None else c0[k]
            states, outs = [], []
            for t in range(steps):
                keep = mask[:, t, None]
                if c is None:
                    h = torch.where(keep, cell(seq[:, t], h), h)
                else:
                    h_new, c_new = cell(seq[:, t], (h, c))
                    h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
                if h.requires_grad:
                    h.retain_grad()
                states.append(h)
                outs.append(h * keep)
            out = torch.stack(outs, dim=1)
            outputs.append(out if direction == 0 else _reverse(out, reverse_index))
            final_h.append(h)
            final_c.append(c)
            records.append(RecordedStates(layer, direction, states, mask, reverse_index if direction else None))
        layer_input = torch.cat(outputs, dim=-1) if len(outputs) > 1 else outputs[0]
        if encoder.training and encoder.dropout > 0 and layer < encoder.num_layers - 1:
            layer_input = nn.functional.dropout(layer_input, encoder.dropout, training=True)
    encoder.recorded = records
    h_n = torch.stack(final_h)
    return layer_input, ((h_n, torch.stack(final_c)) if encoder.cell == "lstm" else h_n)


def _reverse(x: Tensor, reverse_index: Tensor) -> Tensor:
    """Reverse each sequence of ``x [B, T, D]`` within its length; padded positions stay in place."""
    return x.gather(1, reverse_index[:, :, None].expand_as(x))
