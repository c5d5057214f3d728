"""Attention of one decoder state over a padded source: additive (Bahdanau) and multiplicative (Luong).

Padding gets exactly zero weight (its score is -inf before the softmax), so a source's context and weights
are the same whatever it is padded to. The key projection depends on the source only, so a decoder
computes it once per sentence (``project_keys``) and reuses it at every output step.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor, nn

METHODS = ("additive", "dot", "general")


class Attention(nn.Module):
    """Attention of a decoder query over a padded source: scores -> softmax over real positions -> context.

    additive (Bahdanau et al. 2015): ``v^T tanh(W_q q + W_k k_s)``; dot (Luong et al. 2015): ``q . k_s``;
    general (Luong): ``q^T W k_s``. The keys are also the values. Padding scores -inf, so it gets exactly zero
    weight and a source's context does not depend on how far it is padded.

    Args:
        query_size: features of the query, the decoder state (Hq).
        key_size: features of the keys, the encoder outputs (Hk); dot needs ``query_size == key_size``.
        method: "additive", "dot" or "general". Default: "additive"
        hidden_size: additive only: the size A of the scoring layer. Default: None (``query_size``)

    Inputs: query, keys, mask, projected
        - query: one decoder step, or every step at once.
        - keys: the encoder outputs (the values too).
        - mask: bool, True at real source positions.
        - projected: ``project_keys(keys)``, passed to compute it once per source. Default: None (computed)

    Outputs: context, weights
        - context: the weighted sum of the keys.
        - weights: the attention distribution over the source (zero at padding).

    Shape:
        - query: ``[B, Hq]`` or ``[B, T, Hq]``; keys: ``[B, S, Hk]``; mask: ``[B, S]``
        - projected: ``[B, S, A]`` (A: hidden_size for additive, Hq for general, Hk for dot)
        - context: ``[B, Hk]`` or ``[B, T, Hk]``; weights: ``[B, S]`` or ``[B, T, S]``
    """

    def __init__(self, query_size: int, key_size: int, method: str = "additive", hidden_size: Optional[int] = None):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"attention must be one of none, {', '.join(METHODS)}; got {method!r}")
        if method == "dot" and query_size != key_size:
            raise ValueError(
                f"dot attention needs the decoder size to equal the encoder output size, got {query_size} "
                f"and {key_size} (a bidirectional encoder doubles it): use model.attention=general or model.attention=additive"
            )
        self.method = method
        if method == "additive":
            hidden_size = hidden_size or query_size
            self.query_proj = nn.Linear(query_size, hidden_size, bias=False)
            self.key_proj = nn.Linear(key_size, hidden_size)
            self.v = nn.Linear(hidden_size, 1, bias=False)
        elif method == "general":
            self.key_proj = nn.Linear(key_size, query_size, bias=False)

    def project_keys(self, keys: Tensor) -> Tensor:
        """keys [B, S, Hk] -> what the scores read: [B, S, A] (A: attention size; dot: the keys themselves)."""
        return keys if self.method == "dot" else self.key_proj(keys)

    def forward(
        self, query: Tensor, keys: Tensor, mask: Tensor, projected: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor]:
        """query [B, Hq] (one step) or [B, T, Hq] (every step at once) -> context [B, (T,) Hk], weights [B, (T,) S]."""
        single = query.dim() == 2
        q = query[:, None] if single else query  # [B, T, Hq]
        projected = self.project_keys(keys) if projected is None else projected
        if self.method == "additive":
            scores = self.v(torch.tanh(projected[:, None] + self.query_proj(q)[:, :, None])).squeeze(-1)  # [B, T, S]
        else:
            scores = torch.bmm(q, projected.transpose(1, 2))  # [B, T, S]
        weights = scores.masked_fill(~mask[:, None], float("-inf")).softmax(-1)
        context = torch.bmm(weights, keys)  # [B, T, Hk]
        return (context[:, 0], weights[:, 0]) if single else (context, weights)
