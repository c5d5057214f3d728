"""Word embeddings: a trainable table, or an open vocabulary over frozen pretrained vectors; then dropout."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.padding import PAD_INDEX, UNK_INDEX


class WordEmbedding(nn.Module):
    """Word ids ``[B, T]`` -> vectors ``[B, T, dim]``, then dropout.

    Without ``pretrained``: ``nn.Embedding`` over the ``num_embeddings`` (V) training words, ``<pad>`` row zero.

    With ``pretrained [N + 1, dim]`` (frozen vectors, row 0 zeros) and ``pretrained_rows [V]`` (the row of
    every training word, 0 if the vectors miss it), ids ``>= V`` are words only the vectors know
    (``seqkit.data.pretrained.PretrainedVectors.encode``), and

        e(id) = P[pretrained_rows[id]] + delta[id]      id < V (a training word)
        e(id) = P[id - V + 1] + delta[<unk>]            id >= V (any other word the vectors cover)

    ``delta`` (``self.embedding``, trained unless ``freeze``) starts at zero for covered words and at
    uniform(+-sqrt(3/dim)) for the others (Ma & Hovy 2016). ``P`` is a non-persistent buffer: it is not in
    the state_dict, so whoever rebuilds the module passes the same vectors again. ``pretrained_words``
    (N, kept in the model's hyper-parameters) makes a rebuild without them an error, not a silent change.

    ``word_dropout``: while training, each real token's trainable part becomes ``<unk>``'s with this
    probability (its pretrained vector stays), so the model learns the representation that words unseen in
    training get at test time.

    ``sparse``: the trainable table's gradient is a sparse tensor of the rows a batch uses
    (``nn.Embedding(sparse=True)``), for optimisers that update only those rows (``seqkit.optim``).
    """

    def __init__(
        self,
        num_embeddings: int,
        dim: int,
        dropout: float = 0.0,
        pretrained: Optional[Tensor] = None,
        freeze: bool = False,
        word_dropout: float = 0.0,
        pretrained_rows: Optional[Tensor] = None,
        pretrained_words: int = 0,
        sparse: bool = False,
    ):
        super().__init__()
        if pretrained_words and pretrained is None:
            raise ValueError(
                f"this embedding reads words through {pretrained_words} pretrained vectors: pass them "
                "(seqkit.app.checkpoint.load reads them again from the codec's record)"
            )
        self.embedding = nn.Embedding(num_embeddings, dim, padding_idx=PAD_INDEX, sparse=sparse)
        if pretrained is not None:
            if pretrained.dim() != 2 or pretrained.size(1) != dim or pretrained_rows is None:
                raise ValueError(
                    f"pretrained must be [N + 1, {dim}] with pretrained_rows [{num_embeddings}], "
                    f"got {tuple(pretrained.shape)}"
                )
            if pretrained_words and pretrained.size(0) != pretrained_words + 1:
                raise ValueError(f"expected {pretrained_words} pretrained vectors, got {pretrained.size(0) - 1}")
            if tuple(pretrained_rows.shape) != (num_embeddings,):
                raise ValueError(f"pretrained_rows is {tuple(pretrained_rows.shape)}, expected ({num_embeddings},)")
            with torch.no_grad():
                bound = math.sqrt(3.0 / dim)
                self.embedding.weight.uniform_(-bound, bound)
                self.embedding.weight[pretrained_rows > 0] = 0.0
                self.embedding.weight[[PAD_INDEX, UNK_INDEX]] = 0.0
        self.register_buffer("pretrained", pretrained, persistent=False)
        self.register_buffer("pretrained_rows", pretrained_rows, persistent=False)
        self.embedding.weight.requires_grad_(not freeze)
        self.dropout = nn.Dropout(dropout)
        self.dim, self.word_dropout = dim, word_dropout

    def forward(self, ids: Tensor) -> Tensor:
        drop = None
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids != PAD_INDEX)
        if self.pretrained is None:
            return self.dropout(self.embedding(ids if drop is None else ids.masked_fill(drop, UNK_INDEX)))
        size = self.embedding.num_embeddings
        known = ids < size
        own = ids.masked_fill(~known, UNK_INDEX)
        rows = torch.where(known, self.pretrained_rows[own], ids - (size - 1))
        if drop is not None:
            own = own.masked_fill(drop, UNK_INDEX)
        return self.dropout(F.embedding(rows, self.pretrained) + self.embedding(own))
