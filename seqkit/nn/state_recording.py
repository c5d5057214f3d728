"""Keep every hidden state h_t of a RecurrentEncoder pass so that ∂L/∂h_t can be read after backward.

A fused nn.LSTM hides its hidden states inside one kernel: the output tensor it returns receives only the
gradient that flows into it from above, not the part that flows back through h_{t+1}. The *total*
derivative ∂L/∂h_t (the quantity that vanishes or explodes with distance) needs h_t as a tensor that the
next step reads. So on the steps where it is wanted, ``RecurrentEncoder.forward`` runs its explicit cell
loop over the *same parameters* and calls ``retain_grad`` on every h_t, handing them over as one
``RecordedStates`` per layer and direction. For an LSTM, h_t is the hidden state (not the cell state c_t), and
∂L/∂h_t is taken with c_t held fixed, as in the BPTT equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch
from torch import Tensor

from seqkit.nn.padding import reverse_within_lengths


@dataclass
class RecordedStates:
    """The hidden states of one layer and direction of one recorded forward pass; ``gradient_norms()`` reads
    ‖∂L/∂h_t‖ per position after backward.

    Args:
        layer: the encoder layer.
        direction: 0 forward, 1 backward.
        states: T tensors, the state after processing step s, each keeping its ``.grad`` after backward (for the
            backward direction, step s reads position ``length - 1 - s`` of each sequence).
        mask: True at real positions.
        reversed_lengths: the lengths when the states were produced in reversed order (backward direction: maps
            processing steps back to positions), or None.

    Shape:
        - states: T x ``[B, H]``; mask: ``[B, T]`` bool; reversed_lengths: ``[B]``
        - ``gradient_norms()``: ``[T']``, T' the longest length
    """

    layer: int
    direction: int
    states: List[Tensor]
    mask: Tensor
    reversed_lengths: Optional[Tensor]

    def gradient_norms(self) -> Tensor:
        """``[T']`` mean over the batch's real positions of ‖∂L/∂h_t‖₂, indexed by position t in the
        sequence (T' = the longest length). Padded positions contribute nothing."""
        grads = torch.stack([s.grad if s.grad is not None else torch.zeros_like(s) for s in self.states], dim=1)
        if self.reversed_lengths is not None:
            grads = reverse_within_lengths(grads, self.reversed_lengths)
        norms = grads.detach().float().norm(dim=-1) * self.mask  # [B, T]
        real = self.mask.sum(0)
        longest = int((real > 0).sum())
        return (norms.sum(0) / real.clamp(min=1))[:longest].cpu()
