"""Word embeddings with optional pretrained initialisation and dropout."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from seqkit.nn.padding import PAD_INDEX, UNK_INDEX


class WordEmbedding(nn.Module):
    """``nn.Embedding`` (padding row 0 stays zero) followed by dropout: ids ``[B, T]`` -> ``[B, T, dim]``.

    ``word_dropout``: while training, each real token is replaced by ``<unk>`` with this probability, so
    the model learns a useful ``<unk>`` vector for words it will meet only at test time.

    ``pretrained [V, dim]`` initialises the table (it is then trained unless ``freeze``); the weights
    themselves live in the state_dict, so a checkpoint never needs the vector file again.
    """

    def __init__(self, num_embeddings: int, dim: int, dropout: float = 0.0,
                 pretrained: Optional[Tensor] = None, freeze: bool = False, word_dropout: float = 0.0):
        super().__init__()
        if pretrained is not None:
            if tuple(pretrained.shape) != (num_embeddings, dim):
                raise ValueError(f"pretrained matrix is {tuple(pretrained.shape)}, expected ({num_embeddings}, {dim})")
        self.embedding = nn.Embedding(num_embeddings, dim, padding_idx=PAD_INDEX)
        if pretrained is not None:
            self.embedding.weight.data.copy_(pretrained)
        self.embedding.weight.requires_grad_(not freeze)
        self.dropout = nn.Dropout(dropout)
        self.dim, self.word_dropout = dim, word_dropout

    def forward(self, ids: Tensor) -> Tensor:
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids != PAD_INDEX)
            ids = ids.masked_fill(drop, UNK_INDEX)
        return self.dropout(self.embedding(ids))
