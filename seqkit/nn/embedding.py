"""Word embeddings with optional pretrained initialisation and dropout."""
from __future__ import annotations

from typing import Optional

from torch import Tensor, nn

PAD_INDEX = 0  # seqkit.data.Vocabulary always puts <pad> at id 0


class WordEmbedding(nn.Module):
    """``nn.Embedding`` (padding row 0 stays zero) followed by dropout: ids ``[B, T]`` -> ``[B, T, dim]``.

    ``pretrained [V, dim]`` initialises the table (it is then trained unless ``freeze``); the weights
    themselves live in the state_dict, so a checkpoint never needs the vector file again.
    """

    def __init__(self, num_embeddings: int, dim: int, dropout: float = 0.0,
                 pretrained: Optional[Tensor] = None, freeze: bool = False):
        super().__init__()
        if pretrained is not None:
            if tuple(pretrained.shape) != (num_embeddings, dim):
                raise ValueError(f"pretrained matrix is {tuple(pretrained.shape)}, expected ({num_embeddings}, {dim})")
        self.embedding = nn.Embedding(num_embeddings, dim, padding_idx=PAD_INDEX)
        if pretrained is not None:
            self.embedding.weight.data.copy_(pretrained)
        self.embedding.weight.requires_grad_(not freeze)
        self.dropout = nn.Dropout(dropout)
        self.dim = dim

    def forward(self, ids: Tensor) -> Tensor:
        return self.dropout(self.embedding(ids))
