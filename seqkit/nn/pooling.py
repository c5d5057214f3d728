"""Pool recurrent outputs ``[B, T, H]`` into one vector a sequence ``[B, H]`` (many-to-one heads)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class SequencePooling(nn.Module):
    """Pool the recurrent outputs of a sequence into one vector (many-to-one heads), reading real tokens only.

    Args:
        method: "last" (final state of each direction: forward at the last real token, backward at the first),
            "mean" / "max" over real tokens, or "attention" (a learned query scores every real token, softmax
            over them; additive scoring as in Yang et al. 2016).
        hidden_size: features of the outputs (H, all directions together).
        num_directions: direction blocks the outputs' features split into ("last" reads each block at its own
            end). Default: 1

    Inputs: outputs, mask, lengths
        - outputs: the encoder's outputs (``RecurrentEncoder``).
        - mask: bool, True at real tokens.
        - lengths: each sequence's true length (>= 1).

    Outputs: one vector per sequence.

    Shape:
        - outputs: ``[B, T, H]``; mask: ``[B, T]``; lengths: ``[B]``; output: ``[B, H]``
    """

    METHODS = ("last", "mean", "max", "attention")

    def __init__(self, method: str, hidden_size: int, num_directions: int = 1):
        super().__init__()
        if method not in self.METHODS:
            raise ValueError(f"pooling must be one of {self.METHODS}, got {method!r}")
        self.method, self.num_directions = method, num_directions
        if method == "attention":
            self.project = nn.Linear(hidden_size, hidden_size)
            self.query = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, outputs: Tensor, mask: Tensor, lengths: Tensor) -> Tensor:
        """outputs [B, T, H], mask [B, T] bool, lengths [B] -> [B, H]."""
        if self.method == "last":
            return self._last(outputs, lengths)
        if self.method == "mean":
            return (outputs * mask[..., None]).sum(1) / lengths.to(outputs.dtype)[:, None]
        if self.method == "max":
            masked = outputs.masked_fill(~mask[..., None], float("-inf"))
            # amax skips max's indices (faster); its gradient splits ties, so training keeps max's
            return masked.max(1).values if torch.is_grad_enabled() else masked.amax(1)
        scores = self.query(torch.tanh(self.project(outputs))).squeeze(-1)  # [B, T]
        weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
        return torch.einsum("bt,bth->bh", weights, outputs)

    def _last(self, outputs: Tensor, lengths: Tensor) -> Tensor:
        hidden = outputs.size(-1) // self.num_directions
        last = (lengths - 1).to(outputs.device)
        forward = outputs[torch.arange(outputs.size(0), device=outputs.device), last, :hidden]
        if self.num_directions == 1:
            return forward
        return torch.cat([forward, outputs[:, 0, hidden:]], dim=-1)
