"""Word embeddings: a trainable table, or an open vocabulary over frozen pretrained vectors; then dropout."""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.padding import PAD_INDEX, UNK_INDEX


class WordEmbedding(nn.Module):
    """Word ids -> vectors, then dropout: a trainable table, or an open vocabulary over frozen pretrained vectors.

    With pretrained vectors ``P`` (frozen, row 0 zeros), ids ``>= V`` are words only the vectors know
    (``seqkit.data.pretrained.PretrainedVectors.encode``), so a word unseen in training still gets its vector:

        e(id) = P[pretrained_rows[id]] + delta[id]      id < V (a training word)
        e(id) = P[id - V + 1] + delta[<unk>]            id >= V (any other word the vectors cover)

    ``delta`` (``self.embedding``) starts at zero for covered words and at uniform(+-sqrt(3/dim)) for the others
    (Ma & Hovy 2016). ``P`` is a non-persistent buffer, not in the state_dict, so whoever rebuilds the module
    passes the same vectors again; ``pretrained_words`` makes a rebuild without them an error, not a silent change.

    Args:
        num_embeddings: the training vocabulary V (``<pad>`` at 0 keeps a zero row, ``<unk>`` at 1).
        dim: vector size D.
        dropout: on the output vectors. Default: 0.0
        pretrained: ``[N + 1, dim]`` frozen vectors, row 0 zeros. Default: None (a plain table)
        freeze: keep the trainable table (``delta``) fixed. Default: False
        word_dropout: while training, each real token's trainable part becomes ``<unk>``'s with this probability
            (its pretrained vector stays), so the model learns what unseen words get at test time. Default: 0.0
        pretrained_rows: ``[V]`` long, the row of ``pretrained`` of every training word (0: not covered).
            Default: None
        pretrained_words: N, kept in the model's hyper-parameters; > 0 requires ``pretrained``. Default: 0
        sparse: the table's gradient is sparse (``nn.Embedding(sparse=True)``), for optimisers that update only
            the rows a batch uses (``seqkit.training.optim``). Default: False

    Inputs: ids, word ids (``>= V`` only with ``pretrained``).
    Outputs: their vectors, after dropout.

    Shape:
        - ids: ``[*]`` long, e.g. ``[B, T]``, or ``[B]`` for one decoding step
        - output: ``[*, dim]``
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
