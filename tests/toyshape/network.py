"""Tokens -> GRU -> mean over time -> one number: the count."""

from __future__ import annotations

from typing import Any, Dict, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.encoder import RecurrentEncoder
from seqkit.nn.padding import lengths_to_mask


class CountNetwork(nn.Module):
    """The toy shape's network: how many times a token occurs in a line, as one number a sequence.

    Each position adds its own contribution and the sum runs over time, so the count can grow with the length.

    Args:
        vocab_size: vocabulary V, from the codec.
        embedding_dim: token embedding size. Default: 8
        hidden_size: the GRU's hidden size. Default: 16

    Inputs: tokens, lengths
        - tokens: token ids.
        - lengths: each line's true length.

    Outputs: the predicted count of each line (float).

    Shape:
        - tokens: ``[B, T]`` long; lengths: ``[B]``; output: ``[B]``
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 8, hidden_size: int = 16):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.encoder = RecurrentEncoder(embedding_dim, cell="gru", hidden_size=hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    @classmethod
    def from_hparams(cls, hparams: Mapping[str, Any]) -> "CountNetwork":
        return cls(**{k: hparams[k] for k in ("vocab_size", "embedding_dim", "hidden_size") if k in hparams})

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        outputs = self.encoder.outputs(self.embedding(tokens), lengths)
        mask = lengths_to_mask(lengths, tokens.size(1)).unsqueeze(-1).to(outputs.dtype)
        return (self.head(outputs) * mask).squeeze(-1).sum(1)  # a sum over time: counts grow with length

    def loss(self, batch) -> Dict[str, Tensor]:
        """``{"loss"}``: the mean squared error of the counts."""
        return {"loss": F.mse_loss(self(batch.tokens, batch.lengths), batch.labels)}

    @torch.no_grad()
    def evaluate(self, batch) -> Dict[str, Tensor]:
        """``{"counts": [B], "targets": [B]}`` for the metrics."""
        counts = self(batch.tokens, batch.lengths)
        return {"counts": counts, "targets": batch.labels}

    @torch.no_grad()
    def predict(self, batch) -> Dict[str, Tensor]:
        """``{"index": [B], "count": [B]}``."""
        return {"index": batch.index, "count": self(batch.tokens, batch.lengths)}
