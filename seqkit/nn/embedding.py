"""Word embeddings: a trainable table, or an open vocabulary over frozen pretrained vectors; then dropout. Also a
word-level network's input layers (``word_input_layers``: the word embedding and a character encoder) and the
features they give together (``word_features``)."""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqkit.nn.char_encoder import build_char_encoder
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


def word_input_layers(
    vocab_size: int,
    embedding_dim: int,
    dropout: float = 0.0,
    pretrained_vectors: Optional[Tensor] = None,
    freeze_embeddings: bool = False,
    word_dropout: float = 0.0,
    pretrained_rows: Optional[Tensor] = None,
    pretrained_words: int = 0,
    sparse_embeddings: bool = False,
    *,
    char_encoder: Optional[str] = "none",
    num_chars: int = 0,
    char: Optional[Dict[str, Any]] = None,
    input_size: int = 0,
) -> Tuple[Optional[WordEmbedding], Optional[nn.Module], int]:
    """The input layers of a word-level network (the classifier, the tagger): a ``WordEmbedding`` and a character
    encoder, built in that order (a seed gives the same initial weights), and the size of their features.
    The network keeps them as ``self.embedding`` and ``self.chars`` (so its state_dict keys are ``embedding.*``
    and ``chars.*``) and reads them with ``word_features``.

    Args:
        vocab_size: the word vocabulary V.
        embedding_dim: word vector size D.
        dropout: on the word vectors (``WordEmbedding``'s). Default: 0.0
        pretrained_vectors: ``[N + 1, D]`` frozen vectors (``WordEmbedding``'s ``pretrained``). Default: None
        freeze_embeddings: keep the trainable word table fixed. Default: False
        word_dropout: ``WordEmbedding``'s word dropout. Default: 0.0
        pretrained_rows: ``[V]`` rows of the pretrained vectors. Default: None
        pretrained_words: N. Default: 0
        sparse_embeddings: sparse gradients for the word table. Default: False
        char_encoder: "none", "cnn", "lstm" or "cnn+lstm" (``build_char_encoder``). Default: "none"
        num_chars: the character vocabulary. Default: 0
        char: the character encoder's keyword arguments. Default: None
        input_size: > 0: the inputs are real-valued features of this size, with no word embedding. Default: 0

    Returns:
        (the word embedding, or None with ``input_size``; the character encoder, or None; the feature size:
        ``embedding_dim`` (or ``input_size``) plus the character encoder's ``output_dim``).
    """
    embedding = None
    if input_size <= 0:
        embedding = WordEmbedding(
            vocab_size,
            embedding_dim,
            dropout=dropout,
            pretrained=pretrained_vectors,
            freeze=freeze_embeddings,
            word_dropout=word_dropout,
            pretrained_rows=pretrained_rows,
            pretrained_words=pretrained_words,
            sparse=sparse_embeddings,
        )
    chars = build_char_encoder(char_encoder, num_chars, **(char or {}))
    size = (input_size if input_size > 0 else embedding_dim) + (chars.output_dim if chars is not None else 0)
    return embedding, chars, size


def word_features(
    embedding: Optional[nn.Module],
    chars: Optional[nn.Module],
    tokens: Tensor,
    char_ids: Optional[Tensor] = None,
    char_lengths: Optional[Tensor] = None,
) -> Tensor:
    """The features of ``word_input_layers``: each token's word vector, then its character encoder's vector.

    Args:
        embedding: the word embedding; None: ``tokens`` are already features and pass through.
        chars: the character encoder, or None.
        tokens: word ids ``[B, T]`` (features ``[B, T, F]`` without an embedding).
        char_ids: the tokens' characters ``[B, T, C]``, with a character encoder. Default: None
        char_lengths: their lengths ``[B, T]``. Default: None

    Returns:
        ``[B, T, D]`` features.
    """
    if embedding is None:
        return tokens
    features = embedding(tokens)
    if chars is not None:
        features = torch.cat([features, chars(char_ids, char_lengths)], dim=-1)
    return features
